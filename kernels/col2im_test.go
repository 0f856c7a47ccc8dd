package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestCol2imIsAdjointOfIm2col checks <Im2col(x), y> = <x, Col2im(y)> for random x and y,
// which holds exactly (up to rounding) only for the true adjoint.
func TestCol2imIsAdjointOfIm2col(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	cases := []struct{ c, h, w, k, pad, stride int }{
		{1, 5, 5, 3, 1, 1}, {3, 9, 9, 3, 1, 1}, {2, 7, 6, 3, 1, 2}, {2, 9, 9, 5, 2, 1},
		{4, 8, 8, 1, 0, 1}, {3, 6, 7, 2, 0, 2}, {2, 4, 4, 3, 2, 3},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("c=%d,hw=%dx%d,k=%d,p=%d,s=%d", tc.c, tc.h, tc.w, tc.k, tc.pad,
			tc.stride)
		oh := ConvOutputSize(tc.h, tc.k, tc.pad, tc.stride)
		ow := ConvOutputSize(tc.w, tc.k, tc.pad, tc.stride)
		x := randomSlice(r, tc.c*tc.h*tc.w)
		y := randomSlice(r, tc.c*tc.k*tc.k*oh*ow)
		col := make([]float32, len(y))
		Im2col(col, x, tc.c, tc.h, tc.w, tc.k, tc.k, tc.pad, tc.pad, tc.stride, tc.stride)
		back := make([]float32, len(x))
		for i := range back {
			back[i] = 1 // Col2im accumulates, so start from a known offset
		}
		Col2im(back, y, tc.c, tc.h, tc.w, tc.k, tc.k, tc.pad, tc.pad, tc.stride, tc.stride)
		var lhs, rhs float64
		for i := range col {
			lhs += float64(col[i]) * float64(y[i])
		}
		for i := range x {
			rhs += float64(x[i]) * float64(back[i]-1)
		}
		if d := lhs - rhs; d > 1e-3 || d < -1e-3 {
			t.Errorf("%s: <Im2col(x), y> = %g, <x, Col2im(y)> = %g", name, lhs, rhs)
		}
	}
}

func TestTranspose(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, dims := range [][2]int{{1, 1}, {3, 70}, {33, 65}, {64, 64}} {
		rows, cols := dims[0], dims[1]
		ldSrc, ldDst := cols+3, rows+5
		src := randomSlice(r, rows*ldSrc)
		dst := make([]float32, cols*ldDst)
		Transpose(dst, ldDst, src, ldSrc, rows, cols)
		for i := range rows {
			for j := range cols {
				if dst[j*ldDst+i] != src[i*ldSrc+j] {
					t.Fatalf("%dx%d: dst[%d][%d] = %g, want %g", rows, cols, j, i,
						dst[j*ldDst+i], src[i*ldSrc+j])
				}
			}
		}
	}
}

func randomSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}
