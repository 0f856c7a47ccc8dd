package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

// windowScanGrad is the slow obvious 3×3 max-pool gradient: for each output, a scan of its
// window in row-major order for the first maximum.
func windowScanGrad(dx, x, dy []float32, h, w int) {
	for r := range h {
		for q := range w {
			best := -1
			for i := max(r-1, 0); i <= min(r+1, h-1); i++ {
				for j := max(q-1, 0); j <= min(q+1, w-1); j++ {
					if best < 0 || x[i*w+j] > x[best] {
						best = i*w + j
					}
				}
			}
			dx[best] += dy[r*w+q]
		}
	}
}

func TestMaxPool3x3Grad(t *testing.T) {
	forEachVectorPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(81, 82))
		var s MaxPoolScratch
		for _, size := range [][2]int{{1, 1}, {1, 8}, {2, 8}, {8, 8}, {5, 16}, {3, 24},
			{32, 32}, {7, 9}, {4, 5}} {
			h, w := size[0], size[1]
			label := fmt.Sprintf("%d×%d", h, w)
			// Values from a few levels, so that windows have ties.
			x := guardedVector(h*w, func() float32 { return float32(rng.IntN(4)) - 1.5 })
			dy := guardedVector(h*w, uniform(rng))
			got := guardedVector(h*w, uniform(rng))
			want := make([]float32, h*w)
			copy(want, got.data())
			MaxPool3x3Grad(got.data(), x.data(), dy.data(), h, w, &s)
			windowScanGrad(want, x.data(), dy.data(), h, w)
			got.checkUnchanged(t, "dx outside the plane", true, label)
			x.checkUnchanged(t, "x", false, label)
			for i := range want {
				if math.Abs(float64(got.data()[i]-want[i])) > 1e-6 {
					t.Fatalf("%s: dx[%d] = %v, the window scan gives %v", label, i,
						got.data()[i], want[i])
				}
			}
		}
	})
}

// TestMaxPool3x3GradInfinities checks planes of −∞, where the padding of the assembly path
// ties with the plane: every dy must still reach a cell of the plane.
func TestMaxPool3x3GradInfinities(t *testing.T) {
	forEachVectorPath(t, func(t *testing.T) {
		var s MaxPoolScratch
		for _, size := range [][2]int{{8, 8}, {3, 16}, {1, 8}} {
			h, w := size[0], size[1]
			x, dy := make([]float32, h*w), make([]float32, h*w)
			for i := range x {
				x[i] = float32(math.Inf(-1))
				dy[i] = 1
			}
			got, want := make([]float32, h*w), make([]float32, h*w)
			MaxPool3x3Grad(got, x, dy, h, w, &s)
			windowScanGrad(want, x, dy, h, w)
			assert.Equal(t, want, got, "%d×%d plane of −∞", h, w)
		}
	})
}

func TestMax3(t *testing.T) {
	forEachVectorPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(83, 84))
		nan := float32(math.NaN())
		for _, n := range vectorLengths {
			a := guardedVector(n, uniform(rng))
			b := guardedVector(n, uniform(rng))
			c := guardedVector(n, uniform(rng))
			for i := 0; i < n; i += 5 {
				[]*guarded{a, b, c}[i%3].data()[i] = nan
			}
			dst := guardedVector(n, nil)
			Max3(dst.data(), a.data(), b.data(), c.data())
			label := fmt.Sprintf("Max3 n=%d", n)
			dst.checkUnchanged(t, "dst outside the vector", true, label)
			for i := range n {
				want := max(a.at(0, i), b.at(0, i), c.at(0, i))
				got := dst.at(0, i)
				if math.Float32bits(got) != math.Float32bits(want) &&
					!(math.IsNaN(float64(got)) && math.IsNaN(float64(want))) {
					t.Fatalf("%s: dst[%d] = %v, want %v", label, i, got, want)
				}
			}
		}
	})
}

// TestMaxPool3x3GradNaN checks that every path gives a NaN window's gradient to the cell that
// the pure-Go scan picks.
func TestMaxPool3x3GradNaN(t *testing.T) {
	forEachVectorPath(t, func(t *testing.T) {
		h, w := 8, 8
		x, dy := make([]float32, h*w), make([]float32, h*w)
		for i := range x {
			x[i], dy[i] = float32(i%7), 1
		}
		x[20] = float32(math.NaN())
		got, want := make([]float32, h*w), make([]float32, h*w)
		MaxPool3x3Grad(got, x, dy, h, w, &MaxPoolScratch{})
		windowScanGrad(want, x, dy, h, w)
		assert.Equal(t, want, got)
	})
}

// TestAllAboveNegInf puts −∞, NaN and +∞ at every place of vectors of odd and whole-block
// lengths and compares each path with the pure-Go twin.
func TestAllAboveNegInf(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	specials := []float32{float32(math.Inf(-1)), float32(math.NaN()), float32(math.Inf(1))}
	forEachVectorPath(t, func(t *testing.T) {
		for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 64} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			assert.True(t, allAboveNegInf(x), "n=%d, no special value", n)
			for i := range x {
				for _, v := range specials {
					saved := x[i]
					x[i] = v
					want := allAboveNegInfGeneric(x)
					assert.Equal(t, want, allAboveNegInf(x), "n=%d, x[%d] = %v", n, i, v)
					assert.Equal(t, v > float32(math.Inf(-1)), want, "twin: x[%d] = %v", i, v)
					x[i] = saved
				}
			}
		}
	})
}
