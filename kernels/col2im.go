package kernels

// Col2im adds the [c*kh*kw, outH*outW] column matrix col back into the c×h×w image dst: it is
// the adjoint of Im2col, so each column entry is added to the input pixel that Im2col read
// it from, and entries that Im2col took from the padding are dropped. dst is accumulated
// into, not cleared. The arguments and their checks are those of Im2col, with dst and src
// swapped.
func Col2im(dst, col []float32, c, h, w, kh, kw, padH, padW, strideH, strideW int) {
	checkIm2col(col, dst, c, h, w, kh, kw, padH, padW, strideH, strideW)
	outH := ConvOutputSize(h, kh, padH, strideH)
	outW := ConvOutputSize(w, kw, padW, strideW)
	cols := outH * outW
	for ci := 0; ci < c; ci++ {
		plane := dst[ci*h*w : (ci+1)*h*w]
		for ki := 0; ki < kh; ki++ {
			for kj := 0; kj < kw; kj++ {
				row := col[((ci*kh+ki)*kw+kj)*cols:][:cols]
				lo, hi := validOutputRange(outW, w, padW, kj, strideW)
				if lo == hi {
					continue
				}
				for oh := 0; oh < outH; oh++ {
					ih := oh*strideH - padH + ki
					if ih < 0 || ih >= h {
						continue
					}
					in := plane[ih*w : (ih+1)*w]
					out := row[oh*outW : (oh+1)*outW]
					if strideW == 1 {
						AxpyUnitary(1, out[lo:hi], in[lo-padW+kj:][:hi-lo])
						continue
					}
					for ow := lo; ow < hi; ow++ {
						in[ow*strideW-padW+kj] += out[ow]
					}
				}
			}
		}
	}
}

// AxpyUnitary computes y[i] += alpha*x[i] for i < len(x); y must be at least as long as x.
func AxpyUnitary(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Transpose writes the cols×rows transpose of the rows×cols row-major matrix src (row stride
// ldSrc) into dst (row stride ldDst): dst[j*ldDst+i] = src[i*ldSrc+j].
func Transpose(dst []float32, ldDst int, src []float32, ldSrc, rows, cols int) {
	const block = 32
	for i0 := 0; i0 < rows; i0 += block {
		i1 := min(i0+block, rows)
		for j0 := 0; j0 < cols; j0 += block {
			j1 := min(j0+block, cols)
			for i := i0; i < i1; i++ {
				s := src[i*ldSrc : i*ldSrc+j1]
				for j := j0; j < j1; j++ {
					dst[j*ldDst+i] = s[j]
				}
			}
		}
	}
}
