package cpu

import (
	"fmt"
	"sync"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/tensor"
)

// convBuffers checks the buffers of a training convolution: x [N, I, H, W], w [O, I, kh, kw]
// and y [N, O, OH, OW] as the description implies.
func convBuffers(op string, d backend.Conv2DDesc, xb, wb, yb backend.Buffer) (x, w, y *Buffer,
	err error) {
	if x, err = asBuffer(xb); err != nil {
		return
	}
	if w, err = asParam(wb); err != nil {
		return
	}
	if y, err = asBuffer(yb); err != nil {
		return
	}
	if err = checkShape(op, "weight", w, tensor.Shape{d.OutChannels, d.InChannels, d.KernelH,
		d.KernelW}); err != nil {
		return
	}
	want, err := backend.ConvOutputShape(d, x.Shape())
	if err != nil {
		return
	}
	err = checkShape(op, "output", y, want)
	return
}

// asParam returns a buffer that must be whole (not a channel view), as parameters are.
func asParam(b backend.Buffer) (*Buffer, error) {
	p, err := asBuffer(b)
	if err != nil {
		return nil, err
	}
	if p.batchStride != p.c*p.h*p.w {
		return nil, fmt.Errorf("cpu backend: a parameter buffer cannot be a channel view")
	}
	return p, nil
}

func isDirect(d backend.Conv2DDesc) bool {
	return d.KernelH == 1 && d.KernelW == 1 && d.StrideH == 1 && d.StrideW == 1 &&
		d.PadH == 0 && d.PadW == 0
}

// Conv2DForward computes y = conv(x, w).
func (b *Backend) Conv2DForward(d backend.Conv2DDesc, xb, wb, yb backend.Buffer) error {
	x, w, y, err := convBuffers("conv2d forward", d, xb, wb, yb)
	if err != nil {
		return err
	}
	if b.useWinograd(d) {
		// NOTE: the weight is transformed and packed again on every call, here and for the data
		// gradient. Together that took about 4 % of a width-128 training step in a profile.
		b.winogradConv(b.newWinograd(w.data, d.OutChannels, d.InChannels), x, y,
			kernels.WinogradImages{Pad: d.PadH})
		return nil
	}
	k := d.InChannels * d.KernelH * d.KernelW
	cols := y.h * y.w
	if isDirect(d) {
		p := b.packProduct(d.OutChannels, k, w.data, k)
		b.parallelFor(x.n, func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				p.run(cols, x.image(i), cols, y.image(i), cols, false)
			}
		})
		return nil
	}
	packed := kernels.PackA(d.OutChannels, k, w.data, k)
	g := geometry(d, x)
	b.parallelFor(x.n, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			kernels.SgemmIm2col(packed, x.image(i), g, 0, cols, y.image(i), cols, false)
		}
	})
	return nil
}

// newWinograd transforms a 3×3 weight for the Winograd path, with bf16 products on a bf16
// backend.
func (b *Backend) newWinograd(w []float32, out, in int) *kernels.WinogradF43 {
	if b.bf16 {
		return kernels.NewWinogradF43BF16(w, out, in)
	}
	return kernels.NewWinogradF43(w, out, in)
}

// product is the packed left operand of the GEMMs of a 1×1 convolution: float32, or bf16 on
// a bf16 backend.
type product struct {
	f32  *kernels.PackedA
	bf16 *kernels.PackedABF16
}

// packProduct packs the m×k matrix a (row stride lda) as the left operand of product.run.
func (b *Backend) packProduct(m, k int, a []float32, lda int) product {
	if b.bf16 {
		return product{bf16: kernels.PackABF16(m, k, a, lda)}
	}
	return product{f32: kernels.PackA(m, k, a, lda)}
}

// run computes y = P·x, or y += P·x with accumulate, for an x of n columns.
func (p product) run(n int, x []float32, ldx int, y []float32, ldy int, accumulate bool) {
	if p.bf16 != nil {
		kernels.SgemmBF16Packed(p.bf16, n, x, ldx, y, ldy, accumulate)
		return
	}
	kernels.SgemmPacked(p.f32, n, x, ldx, y, ldy, accumulate)
}

// Conv2DBackwardData computes dx = convᵀ(dy, w). For stride 1 and padding below the kernel
// size, that is the convolution of dy with the kernel flipped and its channels swapped, at
// padding kernel−1−pad. Otherwise, per image, the column gradient wᵀ·dy is folded back into
// the image by Col2im.
func (b *Backend) Conv2DBackwardData(d backend.Conv2DDesc, wb, dyb, dxb backend.Buffer,
	accumulate bool) error {
	dx, w, dy, err := convBuffers("conv2d backward data", d, dxb, wb, dyb)
	if err != nil {
		return err
	}
	if d.StrideH == 1 && d.StrideW == 1 && d.PadH < d.KernelH && d.PadW < d.KernelW {
		b.backwardDataAsConv(d, w, dy, dx, accumulate)
		return nil
	}
	k := d.InChannels * d.KernelH * d.KernelW
	cols := dy.h * dy.w
	wt := getScratch(k * d.OutChannels)
	kernels.Transpose(*wt, d.OutChannels, w.data, k, d.OutChannels, k)
	packed := kernels.PackA(k, d.OutChannels, *wt, d.OutChannels)
	putScratch(wt)
	b.parallelFor(dx.n, func(_, lo, hi int) {
		dcol := getScratch(k * cols)
		defer putScratch(dcol)
		for i := lo; i < hi; i++ {
			kernels.SgemmPacked(packed, cols, dy.image(i), cols, *dcol, cols, false)
			img := dx.image(i)
			if !accumulate {
				clear(img)
			}
			kernels.Col2im(img, *dcol, dx.c, dx.h, dx.w, d.KernelH, d.KernelW, d.PadH, d.PadW,
				d.StrideH, d.StrideW)
		}
	})
	return nil
}

// backwardDataAsConv computes dx = convᵀ(dy, w) of a stride-1 convolution as the forward
// convolution of dy with w′[i][o][ky][kx] = w[o][i][kh−1−ky][kw−1−kx].
func (b *Backend) backwardDataAsConv(d backend.Conv2DDesc, w, dy, dx *Buffer, accumulate bool) {
	o, in, kh, kw := d.OutChannels, d.InChannels, d.KernelH, d.KernelW
	taps := kh * kw
	flipped := getScratch(in * o * taps)
	for co := range o {
		for ci := range in {
			src := w.data[(co*in+ci)*taps:][:taps]
			dst := (*flipped)[(ci*o+co)*taps:][:taps]
			for t, v := range src {
				dst[taps-1-t] = v
			}
		}
	}
	g := kernels.ConvGeometry{C: o, H: dy.h, W: dy.w, KH: kh, KW: kw, PadH: kh - 1 - d.PadH,
		PadW: kw - 1 - d.PadW, StrideH: 1, StrideW: 1}
	flippedDesc := backend.Conv2DDesc{InChannels: o, OutChannels: in, KernelH: kh,
		KernelW: kw, StrideH: 1, StrideW: 1, PadH: g.PadH, PadW: g.PadW}
	if b.useWinograd(flippedDesc) {
		wg := b.newWinograd(*flipped, in, o)
		putScratch(flipped)
		b.winogradConv(wg, dy, dx, kernels.WinogradImages{Pad: g.PadH, Accumulate: accumulate})
		return
	}
	cols := dx.h * dx.w
	if isDirect(d) {
		p := b.packProduct(in, o, *flipped, o)
		putScratch(flipped)
		b.parallelFor(dx.n, func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				p.run(cols, dy.image(i), cols, dx.image(i), cols, accumulate)
			}
		})
		return
	}
	packed := kernels.PackA(in, o*taps, *flipped, o*taps)
	putScratch(flipped)
	b.parallelFor(dx.n, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			kernels.SgemmIm2col(packed, dy.image(i), g, 0, cols, dx.image(i), cols, accumulate)
		}
	})
}

// winogradConv convolves every image of x into y with wg, splitting the images between the
// workers; im gives the padding and the epilogue.
func (b *Backend) winogradConv(wg *kernels.WinogradF43, x, y *Buffer, im kernels.WinogradImages) {
	b.parallelFor(x.n, func(_, lo, hi int) {
		s := winogradScratchPool.Get().(*kernels.WinogradScratch)
		defer winogradScratchPool.Put(s)
		winogradImages(wg, s, x, y, lo, hi, im)
	})
}

var winogradScratchPool = sync.Pool{New: func() any { return new(kernels.WinogradScratch) }}

// Conv2DBackwardFilter computes dw = Σ_images dy·im2col(x)ᵀ, as dot products of the rows of
// dy and of the column matrix, or in the Winograd domain for the 3×3 convolutions of the
// Winograd path. Each worker sums its images into its own [O, K] accumulator, and the
// accumulators are added into dw at the end.
//
// NOTE: it runs in float32 on a bf16 backend too, where the forward and data-gradient
// products run in bf16; no bf16 form of the weight-gradient kernels exists.
func (b *Backend) Conv2DBackwardFilter(d backend.Conv2DDesc, xb, dyb, dwb backend.Buffer) error {
	x, dw, dy, err := convBuffers("conv2d backward filter", d, xb, dwb, dyb)
	if err != nil {
		return err
	}
	k := d.InChannels * d.KernelH * d.KernelW
	o := d.OutChannels
	cols := dy.h * dy.w
	if x.n == 0 {
		clear(dw.data)
		return nil
	}
	workers := min(b.threads, x.n)
	acc := make([]*[]float32, workers)
	wino := b.useWinograd(d)
	b.parallelFor(x.n, func(worker, lo, hi int) {
		sum := getScratch(o * k)
		clear(*sum)
		acc[worker] = sum
		if wino {
			s := winogradScratchPool.Get().(*kernels.WinogradScratch)
			defer winogradScratchPool.Put(s)
			kernels.WinogradF43WeightGrad(*sum, o, d.InChannels, s, kernels.WinogradImages{
				X: x.data[lo*x.batchStride:], XStride: x.batchStride,
				Y: dy.data[lo*dy.batchStride:], YStride: dy.batchStride, N: hi - lo,
				H: x.h, W: x.w, Pad: d.PadH}, winogradTiles)
			return
		}
		scratch := getScratch(k * cols)
		defer putScratch(scratch)
		for i := lo; i < hi; i++ {
			col := x.image(i)
			if !isDirect(d) {
				col = (*scratch)[:k*cols]
				kernels.Im2col(col, x.image(i), x.c, x.h, x.w, d.KernelH, d.KernelW, d.PadH,
					d.PadW, d.StrideH, d.StrideW)
			}
			kernels.SgemmNT(o, k, cols, dy.image(i), cols, col, cols, *sum, k, true)
		}
	})
	copy(dw.data, *acc[0])
	putScratch(acc[0])
	for _, s := range acc[1:] {
		kernels.AxpyUnitary(1, *s, dw.data)
		putScratch(s)
	}
	return nil
}
