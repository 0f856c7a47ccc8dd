package kernels

import (
	"fmt"
	"math"
)

// MaxPoolScratch is the workspace of MaxPool3x3Grad. One goroutine uses it at a time; it grows
// on demand and is reused after that.
type MaxPoolScratch struct {
	xp, dxp []float32
	best    []int32
}

// MaxPool3x3Grad adds to dx the gradient of a 3×3, stride-1 max pool with "same" padding, in
// which the padding takes no part in the windows. x is the h×w input plane and dy the h×w
// output gradient; each dy goes to the first maximum of its window in row-major order. It
// panics if a plane is shorter than h×w.
func MaxPool3x3Grad(dx, x, dy []float32, h, w int, s *MaxPoolScratch) {
	if h < 0 || w < 0 {
		panic(fmt.Sprintf("kernels: MaxPool3x3Grad: negative size %d×%d", h, w))
	}
	for _, p := range []struct {
		name string
		n    int
	}{{"dx", len(dx)}, {"x", len(x)}, {"dy", len(dy)}} {
		checkLen("MaxPool3x3Grad", p.name, p.n, h*w)
	}

	// The assembly pads the plane with −∞, which could tie with a −∞ of the plane and come
	// first in a border window, and it compares NaN otherwise than the twin: such planes go
	// to the twin.
	grad := activeVector.Load().maxPoolGrad
	if grad == nil || w%8 != 0 || h == 0 || !allAboveNegInf(x[:h*w]) {
		s.best = grow32(s.best, h*w)
		maxPool3x3GradGeneric(dx, x, dy, s.best, h, w)
		return
	}

	// The input, padded with −∞ on every side, and three gradient planes (see
	// maxPoolGrad3x3AVX2), whose sum is added to dx.
	ws, rows := w+2, h+2
	size := rows * ws
	s.xp = grow(s.xp, size)
	s.dxp = grow(s.dxp, 3*size)
	inf := float32(math.Inf(-1))
	for c := range s.xp[:ws] {
		s.xp[c] = inf
		s.xp[(rows-1)*ws+c] = inf
	}
	for y := range h {
		row := s.xp[(y+1)*ws : (y+2)*ws]
		row[0], row[ws-1] = inf, inf
		copy(row[1:], x[y*w:(y+1)*w])
	}
	clear(s.dxp)
	grad(s.dxp, size, s.xp, ws, dy, h, w)

	p0, p1, p2 := s.dxp[:size], s.dxp[size:2*size], s.dxp[2*size:]
	for y := range h {
		at := (y+1)*ws + 1
		a, b, c := p0[at:at+w], p1[at:at+w], p2[at:at+w]
		out := dx[y*w : (y+1)*w]
		for i := range out {
			out[i] += a[i] + b[i] + c[i]
		}
	}
}

// maxPool3x3GradGeneric is the pure-Go twin of MaxPool3x3Grad, in two passes. The first
// writes the index of the first maximum of each 3-wide row window into best. The second takes
// the first maximum of the three down each column, which is the first maximum of the 3×3
// window in row-major order.
func maxPool3x3GradGeneric(dx, x, dy []float32, best []int32, h, w int) {
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

// allAboveNegInf reports whether every element of x is greater than −∞, which also rules out
// NaN.
func allAboveNegInf(x []float32) bool {
	checked := 0
	if above := activeVector.Load().allAboveNegInf; above != nil {
		if !above(x) {
			return false
		}
		checked = len(x) / 8 * 8
	}
	return allAboveNegInfGeneric(x[checked:])
}

// allAboveNegInfGeneric is the pure-Go twin of allAboveNegInfAVX2, on all of x.
func allAboveNegInfGeneric(x []float32) bool {
	negInf := float32(math.Inf(-1))
	ok := true
	for _, v := range x {
		ok = ok && v > negInf
	}
	return ok
}

// grow32 returns buf resized to n elements, reallocating only when its capacity is too small.
func grow32(buf []int32, n int) []int32 {
	if cap(buf) < n {
		return make([]int32, n)
	}
	return buf[:n]
}

// Max3 sets dst[i] = max(a[i], b[i], c[i]) for i < len(dst), with the NaN rule of the max
// builtin: a NaN in any input gives NaN. It panics if a, b or c is shorter than dst.
func Max3(dst, a, b, c []float32) {
	for _, in := range []struct {
		name string
		n    int
	}{{"a", len(a)}, {"b", len(b)}, {"c", len(c)}} {
		checkLen("Max3", in.name, in.n, len(dst))
	}
	k := activeVector.Load()
	n := 0
	if k.max3 != nil {
		n = len(dst) / 8 * 8
		k.max3(dst[:n], a[:n], b[:n], c[:n])
	}
	max3Generic(dst[n:], a[n:], b[n:], c[n:])
}

// max3Generic is the pure-Go twin of Max3.
func max3Generic(dst, a, b, c []float32) {
	a, b, c = a[:len(dst)], b[:len(dst)], c[:len(dst)]
	for i := range dst {
		dst[i] = max(a[i], b[i], c[i])
	}
}
