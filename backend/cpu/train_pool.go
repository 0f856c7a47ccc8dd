package cpu

import (
	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
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
		var scratch kernels.MaxPoolScratch
		for p := lo; p < hi; p++ {
			i, c := p/x.c, p%x.c
			src := x.image(i)[c*inPlane : (c+1)*inPlane]
			g := dy.image(i)[c*outPlane : (c+1)*outPlane]
			out := dx.image(i)[c*inPlane : (c+1)*inPlane]
			if !accumulate {
				clear(out)
			}
			if separable {
				kernels.MaxPool3x3Grad(out, src, g, x.h, x.w, &scratch)
				continue
			}
			poolPlaneBackward(d, out, src, g, x.h, x.w, dy.h, dy.w, padTop, padLeft)
		}
	})
	return nil
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
