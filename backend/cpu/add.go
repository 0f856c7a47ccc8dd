package cpu

import (
	"fmt"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
)

// Add writes the element-wise sum of xs into y. y may be xs[0], which then gains the others
// in place.
func (b *Backend) Add(y backend.Buffer, xs ...backend.Buffer) error {
	dst, err := asBuffer(y)
	if err != nil {
		return err
	}
	if len(xs) == 0 {
		return fmt.Errorf("cpu backend: add of no inputs")
	}
	srcs := make([]*Buffer, len(xs))
	for k, x := range xs {
		s, err := asBuffer(x)
		if err != nil {
			return err
		}
		if dims(s) != dims(dst) {
			return fmt.Errorf("cpu backend: add input %d is %v, output is %v", k, s.Shape(),
				dst.Shape())
		}
		srcs[k] = s
	}
	inPlace := sameStart(dst, srcs[0])
	plane := dst.h * dst.w
	b.parallelFor(dst.n*dst.c, func(_, lo, hi int) {
		for p := lo; p < hi; p++ {
			i, c := p/dst.c, p%dst.c
			out := dst.image(i)[c*plane : (c+1)*plane]
			if !inPlace {
				copy(out, srcs[0].image(i)[c*plane:(c+1)*plane])
			}
			for _, s := range srcs[1:] {
				kernels.AxpyUnitary(1, s.image(i)[c*plane:(c+1)*plane], out)
			}
		}
	})
	return nil
}

// sameStart reports whether two buffers of one shape alias the same elements.
func sameStart(a, b *Buffer) bool {
	return a.batchStride == b.batchStride && len(a.data) > 0 && len(b.data) > 0 &&
		&a.data[0] == &b.data[0]
}
