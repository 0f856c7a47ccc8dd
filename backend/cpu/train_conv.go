package cpu

import (
	"fmt"

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

// columns returns the im2col matrix of image i, in scratch when the convolution needs one.
func columns(d backend.Conv2DDesc, x *Buffer, i int, scratch *[]float32, oh, ow int) []float32 {
	if isDirect(d) {
		return x.image(i)
	}
	col := (*scratch)[:d.InChannels*d.KernelH*d.KernelW*oh*ow]
	kernels.Im2col(col, x.image(i), x.c, x.h, x.w, d.KernelH, d.KernelW, d.PadH, d.PadW,
		d.StrideH, d.StrideW)
	return col
}

// Conv2DForward computes y = conv(x, w).
func (b *Backend) Conv2DForward(d backend.Conv2DDesc, xb, wb, yb backend.Buffer) error {
	x, w, y, err := convBuffers("conv2d forward", d, xb, wb, yb)
	if err != nil {
		return err
	}
	k := d.InChannels * d.KernelH * d.KernelW
	cols := y.h * y.w
	packed := kernels.PackA(d.OutChannels, k, w.data, k)
	b.parallelFor(x.n, func(_, lo, hi int) {
		scratch := getScratch(k * cols)
		defer putScratch(scratch)
		for i := lo; i < hi; i++ {
			col := columns(d, x, i, scratch, y.h, y.w)
			kernels.SgemmPacked(packed, cols, col, cols, y.image(i), cols, false)
		}
	})
	return nil
}

// Conv2DBackwardData computes dx = convᵀ(dy, w): per image, the column gradient wᵀ·dy is
// folded back into the image by Col2im.
func (b *Backend) Conv2DBackwardData(d backend.Conv2DDesc, wb, dyb, dxb backend.Buffer,
	accumulate bool) error {
	dx, w, dy, err := convBuffers("conv2d backward data", d, dxb, wb, dyb)
	if err != nil {
		return err
	}
	k := d.InChannels * d.KernelH * d.KernelW
	cols := dy.h * dy.w
	wt := getScratch(k * d.OutChannels)
	kernels.Transpose(*wt, d.OutChannels, w.data, k, d.OutChannels, k)
	packed := kernels.PackA(k, d.OutChannels, *wt, d.OutChannels)
	putScratch(wt)
	b.parallelFor(dx.n, func(_, lo, hi int) {
		if isDirect(d) {
			for i := lo; i < hi; i++ {
				kernels.SgemmPacked(packed, cols, dy.image(i), cols, dx.image(i), cols,
					accumulate)
			}
			return
		}
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

// Conv2DBackwardFilter computes dw = Σ_images dy·colᵀ. Each worker sums its images into its
// own [K, O] accumulator (col·dyᵀ, which needs the smaller transpose), and the accumulators
// are added and transposed into dw at the end.
func (b *Backend) Conv2DBackwardFilter(d backend.Conv2DDesc, xb, dyb, dwb backend.Buffer) error {
	x, dw, dy, err := convBuffers("conv2d backward filter", d, xb, dwb, dyb)
	if err != nil {
		return err
	}
	k := d.InChannels * d.KernelH * d.KernelW
	o := d.OutChannels
	cols := dy.h * dy.w
	workers := min(b.threads, x.n)
	acc := make([]*[]float32, workers)
	b.parallelFor(x.n, func(worker, lo, hi int) {
		sum := getScratch(k * o)
		clear(*sum)
		acc[worker] = sum
		scratch := getScratch(k * cols)
		defer putScratch(scratch)
		dyT := getScratch(cols * o)
		defer putScratch(dyT)
		for i := lo; i < hi; i++ {
			col := columns(d, x, i, scratch, dy.h, dy.w)
			kernels.Transpose(*dyT, o, dy.image(i), cols, o, cols)
			kernels.Sgemm(k, o, cols, col, cols, *dyT, o, *sum, o, true)
		}
	})
	total := *acc[0]
	for _, s := range acc[1:] {
		kernels.AxpyUnitary(1, *s, total)
		putScratch(s)
	}
	kernels.Transpose(dw.data, k, total, o, k, o)
	putScratch(acc[0])
	return nil
}
