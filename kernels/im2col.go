package kernels

import "fmt"

// ConvOutputSize returns the output length along one axis of a convolution or pooling window:
// (size + 2*pad - kernel)/stride + 1, or 0 when the kernel does not fit in the padded input.
// stride must be at least 1.
func ConvOutputSize(size, kernel, pad, stride int) int {
	if size+2*pad < kernel {
		return 0
	}
	return (size+2*pad-kernel)/stride + 1
}

// Im2col writes the [c*kh*kw, outH*outW] column matrix of one CHW image (zero padding), general
// stride and padding.
//
// src is the c×h×w image. outH = ConvOutputSize(h, kh, padH, strideH) and outW likewise. Row
// (ci*kh+ki)*kw+kj of dst holds, at column oh*outW+ow, the input pixel
// src[ci][oh*strideH-padH+ki][ow*strideW-padW+kj], or 0 where that pixel lies in the padding.
// Multiplying a [cout, c*kh*kw] weight matrix by dst gives the convolution output planes.
// Im2col writes dst[0 : c*kh*kw*outH*outW] and nothing else. It panics on negative sizes or
// padding, kernel sizes or strides below 1, a kernel larger than the padded image, or a slice
// too short for its dimensions.
func Im2col(dst, src []float32, c, h, w, kh, kw, padH, padW, strideH, strideW int) {
	checkIm2col(dst, src, c, h, w, kh, kw, padH, padW, strideH, strideW)
	outH := ConvOutputSize(h, kh, padH, strideH)
	outW := ConvOutputSize(w, kw, padW, strideW)
	cols := outH * outW

	for ci := 0; ci < c; ci++ {
		plane := src[ci*h*w : (ci+1)*h*w]
		for ki := 0; ki < kh; ki++ {
			for kj := 0; kj < kw; kj++ {
				row := dst[((ci*kh+ki)*kw+kj)*cols:][:cols]
				lo, hi := validOutputRange(outW, w, padW, kj, strideW)
				for oh := 0; oh < outH; oh++ {
					out := row[oh*outW : (oh+1)*outW]
					ih := oh*strideH - padH + ki
					if ih < 0 || ih >= h {
						clear(out)
						continue
					}
					in := plane[ih*w : (ih+1)*w]
					clear(out[:lo])
					clear(out[hi:])
					if lo == hi {
						continue
					}
					if strideW == 1 {
						copy(out[lo:hi], in[lo-padW+kj:])
						continue
					}
					for ow := lo; ow < hi; ow++ {
						out[ow] = in[ow*strideW-padW+kj]
					}
				}
			}
		}
	}
}

// validOutputRange returns the output positions [lo, hi) along one axis whose input position
// ow*stride-pad+offset lies inside [0, size). Positions outside the range read the padding.
func validOutputRange(outSize, size, pad, offset, stride int) (lo, hi int) {
	if first := pad - offset; first > 0 {
		lo = (first + stride - 1) / stride
	}
	if last := size - 1 + pad - offset; last >= 0 {
		hi = last/stride + 1
	}
	lo = min(lo, outSize)
	hi = max(lo, min(hi, outSize))
	return lo, hi
}

// checkIm2col panics unless the arguments of Im2col describe a valid convolution lowering.
func checkIm2col(dst, src []float32, c, h, w, kh, kw, padH, padW, strideH, strideW int) {
	if c < 0 || h < 0 || w < 0 {
		panic(fmt.Sprintf("kernels: Im2col: negative image size c=%d, h=%d, w=%d", c, h, w))
	}
	if kh < 1 || kw < 1 {
		panic(fmt.Sprintf("kernels: Im2col: kernel size %d×%d, want at least 1×1", kh, kw))
	}
	if padH < 0 || padW < 0 {
		panic(fmt.Sprintf("kernels: Im2col: negative padding padH=%d, padW=%d", padH, padW))
	}
	if strideH < 1 || strideW < 1 {
		panic(fmt.Sprintf("kernels: Im2col: stride %d×%d, want at least 1×1", strideH, strideW))
	}
	if h+2*padH < kh || w+2*padW < kw {
		panic(fmt.Sprintf("kernels: Im2col: kernel %d×%d is larger than the padded %d×%d image",
			kh, kw, h+2*padH, w+2*padW))
	}
	if need := c * h * w; len(src) < need {
		panic(fmt.Sprintf("kernels: Im2col: len(src) = %d is too short for a %d×%d×%d image "+
			"(want >= %d)", len(src), c, h, w, need))
	}
	outH := ConvOutputSize(h, kh, padH, strideH)
	outW := ConvOutputSize(w, kw, padW, strideW)
	if need := c * kh * kw * outH * outW; len(dst) < need {
		panic(fmt.Sprintf("kernels: Im2col: len(dst) = %d is too short for the %d×%d column "+
			"matrix (want >= %d)", len(dst), c*kh*kw, outH*outW, need))
	}
}
