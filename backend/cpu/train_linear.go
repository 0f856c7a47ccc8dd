package cpu

import (
	"fmt"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/tensor"
)

// linearBuffers checks x [N, C, H, W], w [out, C·H·W, 1, 1], bias [1, out, 1, 1] and
// y [N, out, 1, 1].
func linearBuffers(op string, xb, wb, bb, yb backend.Buffer) (x, w, bias, y *Buffer,
	err error) {
	if x, err = asBuffer(xb); err != nil {
		return
	}
	if w, err = asParam(wb); err != nil {
		return
	}
	if bias, err = asParam(bb); err != nil {
		return
	}
	if y, err = asBuffer(yb); err != nil {
		return
	}
	in := x.c * x.h * x.w
	if w.c != in || w.h != 1 || w.w != 1 {
		return nil, nil, nil, nil, fmt.Errorf("%s: weight shape %v, want [out %d 1 1]", op,
			w.Shape(), in)
	}
	if err = checkShape(op, "bias", bias, tensor.Shape{1, w.n, 1, 1}); err != nil {
		return
	}
	err = checkShape(op, "output", y, tensor.Shape{x.n, w.n, 1, 1})
	return
}

// LinearForward computes y = x·wᵀ + bias; see backend.Trainer.
func (b *Backend) LinearForward(xb, wb, bb, yb backend.Buffer) error {
	x, w, bias, y, err := linearBuffers("linear forward", xb, wb, bb, yb)
	if err != nil {
		return err
	}
	out, in := w.n, w.c
	wt := getScratch(in * out)
	defer putScratch(wt)
	kernels.Transpose(*wt, out, w.data, in, out, in)
	kernels.Sgemm(x.n, out, in, x.data, x.batchStride, *wt, out, y.data, y.batchStride, false)
	for i := range x.n {
		kernels.AxpyUnitary(1, bias.data, y.image(i))
	}
	return nil
}

// LinearBackward computes the gradients of a dense layer; see backend.Trainer.
func (b *Backend) LinearBackward(xb, wb, dyb, dxb, dwb, dbb backend.Buffer,
	accumulate bool) error {
	x, w, db, dy, err := linearBuffers("linear backward", xb, wb, dbb, dyb)
	if err != nil {
		return err
	}
	dx, err := asBuffer(dxb)
	if err != nil {
		return err
	}
	if err := checkShape("linear backward", "input gradient", dx, x.Shape()); err != nil {
		return err
	}
	dw, err := asParam(dwb)
	if err != nil {
		return err
	}
	if err := checkShape("linear backward", "weight gradient", dw, w.Shape()); err != nil {
		return err
	}
	out, in, n := w.n, w.c, x.n
	kernels.Sgemm(n, in, out, dy.data, dy.batchStride, w.data, in, dx.data, dx.batchStride,
		accumulate)
	dyT := getScratch(out * n)
	defer putScratch(dyT)
	kernels.Transpose(*dyT, n, dy.data, dy.batchStride, n, out)
	kernels.Sgemm(out, in, n, *dyT, n, x.data, x.batchStride, dw.data, in, false)
	clear(db.data)
	for i := range n {
		kernels.AxpyUnitary(1, dy.image(i), db.data)
	}
	return nil
}
