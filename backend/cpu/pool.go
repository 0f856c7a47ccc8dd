package cpu

import (
	"math"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/tensor"
)

// pool computes max or average pooling plane by plane. Positions in the padding are skipped,
// so they never win a max and are not counted in an average.
type pool struct {
	b *Backend
	d backend.PoolDesc

	shapes shapeCache
	// x, y and pads are the buffers and the padding of the Run in progress, for run.
	x, y *Buffer
	pads *shapeEntry
	// rows has one row-max scratch plane per worker for the separable 3×3 max pool.
	rows [][]float32
}

// NewPool plans a pooling layer.
func (b *Backend) NewPool(d backend.PoolDesc) (backend.Op, error) {
	probe := tensor.Shape{1, 1, d.KernelH, d.KernelW}
	if _, _, _, err := backend.PoolOutputShape(d, probe); err != nil {
		return nil, err
	}
	return &pool{b: b, d: d, rows: make([][]float32, b.threads)}, nil
}

func (op *pool) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	out, _, _, err := backend.PoolOutputShape(op.d, in)
	return out, err
}

func (op *pool) Run(xb, yb backend.Buffer) error {
	x, y, err := asBuffers(xb, yb)
	if err != nil {
		return err
	}
	e := op.shapes.lookup(x, y)
	if e == nil {
		want, padTop, padLeft, err := backend.PoolOutputShape(op.d, x.Shape())
		if err != nil {
			return err
		}
		if err := checkShape("pool", "output", y, want); err != nil {
			return err
		}
		e = op.shapes.store(x, y)
		e.padTop, e.padLeft = padTop, padLeft
	}
	op.x, op.y, op.pads = x, y, e
	op.b.parallelRun(x.n*x.c, op)
	op.x, op.y, op.pads = nil, nil, nil
	return nil
}

// run pools planes [lo, hi) of the Run in progress, numbered image by image.
func (op *pool) run(worker, lo, hi int) {
	x, y, d := op.x, op.y, op.d
	inPlane, outPlane := x.h*x.w, y.h*y.w
	separable := d.Kind == backend.MaxPool && d.KernelH == 3 && d.KernelW == 3 &&
		d.StrideH == 1 && d.StrideW == 1 && d.Padding == backend.Same
	if separable && len(op.rows[worker]) < inPlane {
		op.rows[worker] = make([]float32, inPlane)
	}
	rows := op.rows[worker]
	for p := lo; p < hi; p++ {
		i, c := p/x.c, p%x.c
		src := x.image(i)[c*inPlane : (c+1)*inPlane]
		dst := y.image(i)[c*outPlane : (c+1)*outPlane]
		if separable {
			maxPool3x3Same(dst, src, rows, x.h, x.w)
			continue
		}
		op.plane(dst, src, x.h, x.w, y.h, y.w, op.pads.padTop, op.pads.padLeft)
	}
}

// maxPool3x3Same computes a 3×3, stride-1 "same" max pool of an h×w plane in two passes, a
// 3-wide max along each row into rows and then a 3-tall max down each column, which takes 4
// comparisons per output in place of 8. Both passes run on kernels.Max3 over the whole plane
// at once: the first treats the plane as one long row and then mends the first and last
// column of each row, whose windows reached into the neighboring rows.
func maxPool3x3Same(dst, src, rows []float32, h, w int) {
	n := h * w
	src, rows, dst = src[:n], rows[:n], dst[:n]
	if w == 1 {
		copy(rows, src)
	} else {
		if n > 2 {
			kernels.Max3(rows[1:n-1], src[:n-2], src[1:n-1], src[2:])
		}
		for r := range h {
			in, out := src[r*w:(r+1)*w], rows[r*w:(r+1)*w]
			out[0] = max(in[0], in[1])
			out[w-1] = max(in[w-2], in[w-1])
		}
	}
	if h == 1 {
		copy(dst, rows)
		return
	}
	kernels.Max3(dst[:w], rows[:w], rows[:w], rows[w:2*w])
	if h > 2 {
		kernels.Max3(dst[w:n-w], rows[:n-2*w], rows[w:n-w], rows[2*w:])
	}
	kernels.Max3(dst[n-w:], rows[n-2*w:n-w], rows[n-w:], rows[n-w:])
}

func (op *pool) plane(dst, src []float32, h, w, oh, ow, padTop, padLeft int) {
	d := op.d
	if d.Kind == backend.MaxPool && d.KernelH == 2 && d.KernelW == 2 && d.StrideH == 2 &&
		d.StrideW == 2 && padTop == 0 && padLeft == 0 && 2*oh <= h && 2*ow <= w {
		maxPool2x2(dst, src, w, oh, ow)
		return
	}
	for r := range oh {
		r0, r1 := windowRange(r, d.StrideH, padTop, d.KernelH, h)
		for q := range ow {
			c0, c1 := windowRange(q, d.StrideW, padLeft, d.KernelW, w)
			if d.Kind == backend.MaxPool {
				m := float32(math.Inf(-1))
				for rr := r0; rr < r1; rr++ {
					for _, v := range src[rr*w+c0 : rr*w+c1] {
						m = max(m, v)
					}
				}
				dst[r*ow+q] = m
				continue
			}
			var s float32
			for rr := r0; rr < r1; rr++ {
				for _, v := range src[rr*w+c0 : rr*w+c1] {
					s += v
				}
			}
			dst[r*ow+q] = s / float32((r1-r0)*(c1-c0))
		}
	}
}

// windowRange returns the input positions [lo, hi) that output position i of a pooling window
// covers along one axis, with the padding cut off.
func windowRange(i, stride, pad, kernel, size int) (lo, hi int) {
	start := i*stride - pad
	return max(start, 0), min(start+kernel, size)
}

// maxPool2x2 computes a 2×2, stride-2 max pool of a plane of width w whose oh×ow windows all
// lie inside it, with the NaN rule of the max builtin.
func maxPool2x2(dst, src []float32, w, oh, ow int) {
	for r := range oh {
		a, b := src[2*r*w:][:2*ow], src[(2*r+1)*w:][:2*ow]
		out := dst[r*ow : (r+1)*ow]
		for q := range out {
			out[q] = max(max(a[2*q], a[2*q+1]), max(b[2*q], b[2*q+1]))
		}
	}
}
