package cpu

import (
	"github.com/renasgo/renas/backend"
)

// PoolBackward computes the input gradient of a pooling layer; see backend.Trainer.
func (b *Backend) PoolBackward(d backend.PoolDesc, xb, dyb, dxb backend.Buffer,
	accumulate bool) error {
	x, err := asBuffer(xb)
	if err != nil {
		return err
	}
	dy, err := asBuffer(dyb)
	if err != nil {
		return err
	}
	dx, err := asBuffer(dxb)
	if err != nil {
		return err
	}
	want, padTop, padLeft, err := backend.PoolOutputShape(d, x.Shape())
	if err != nil {
		return err
	}
	if err := checkShape("pool backward", "output gradient", dy, want); err != nil {
		return err
	}
	if err := checkShape("pool backward", "input gradient", dx, x.Shape()); err != nil {
		return err
	}
	inPlane, outPlane := x.h*x.w, dy.h*dy.w
	separable := d.Kind == backend.MaxPool && d.KernelH == 3 && d.KernelW == 3 &&
		d.StrideH == 1 && d.StrideW == 1 && d.Padding == backend.Same
	b.parallelFor(x.n*x.c, func(_, lo, hi int) {
		var best []int32
		if separable {
			best = make([]int32, inPlane)
		}
		for p := lo; p < hi; p++ {
			i, c := p/x.c, p%x.c
			src := x.image(i)[c*inPlane : (c+1)*inPlane]
			g := dy.image(i)[c*outPlane : (c+1)*outPlane]
			out := dx.image(i)[c*inPlane : (c+1)*inPlane]
			if !accumulate {
				clear(out)
			}
			if separable {
				maxPool3x3SameBackward(out, src, g, best, x.h, x.w)
				continue
			}
			poolPlaneBackward(d, out, src, g, x.h, x.w, dy.h, dy.w, padTop, padLeft)
		}
	})
	return nil
}

// maxPool3x3SameBackward adds the gradient of a 3×3, stride-1 "same" max pool of an h×w
// plane, in two passes as maxPool3x3Same: the index of the first maximum of each 3-wide row
// window into best, then the first maximum of the three down each column. That is the first
// maximum of the 3×3 window in row-major order, the element that poolPlaneBackward picks.
func maxPool3x3SameBackward(dx, x, dy []float32, best []int32, h, w int) {
	for r := range h {
		row, idx := x[r*w:(r+1)*w], best[r*w:(r+1)*w]
		base := int32(r * w)
		for q := range w {
			k := max(q-1, 0)
			for c := k + 1; c <= min(q+1, w-1); c++ {
				if row[c] > row[k] {
					k = c
				}
			}
			idx[q] = base + int32(k)
		}
	}
	for r := range h {
		for q := range w {
			k := best[max(r-1, 0)*w+q]
			for rr := max(r-1, 0) + 1; rr <= min(r+1, h-1); rr++ {
				if v := best[rr*w+q]; x[v] > x[k] {
					k = v
				}
			}
			dx[k] += dy[r*w+q]
		}
	}
}

func poolPlaneBackward(d backend.PoolDesc, dx, x, dy []float32, h, w, oh, ow, padTop,
	padLeft int) {
	for r := range oh {
		r0, r1 := windowRange(r, d.StrideH, padTop, d.KernelH, h)
		for q := range ow {
			c0, c1 := windowRange(q, d.StrideW, padLeft, d.KernelW, w)
			g := dy[r*ow+q]
			if d.Kind == backend.AvgPool {
				share := g / float32((r1-r0)*(c1-c0))
				for rr := r0; rr < r1; rr++ {
					for cc := c0; cc < c1; cc++ {
						dx[rr*w+cc] += share
					}
				}
				continue
			}
			best := r0*w + c0
			for rr := r0; rr < r1; rr++ {
				for cc := c0; cc < c1; cc++ {
					if x[rr*w+cc] > x[best] {
						best = rr*w + cc
					}
				}
			}
			dx[best] += g
		}
	}
}

// ReLUBackward masks dy with y > 0; see backend.Trainer.
func (b *Backend) ReLUBackward(yb, dyb, dxb backend.Buffer) error {
	var bufs [3]*Buffer
	for k, buf := range []backend.Buffer{yb, dyb, dxb} {
		p, err := asBuffer(buf)
		if err != nil {
			return err
		}
		if k > 0 {
			if err := checkShape("relu backward", "gradient", p, bufs[0].Shape()); err != nil {
				return err
			}
		}
		bufs[k] = p
	}
	y, dy, dx := bufs[0], bufs[1], bufs[2]
	b.parallelFor(y.n, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			out, g := dx.image(i), dy.image(i)
			for j, v := range y.image(i) {
				if v > 0 {
					out[j] = g[j]
				} else {
					out[j] = 0
				}
			}
		}
	})
	return nil
}
