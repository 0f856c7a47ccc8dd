package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

// forEachVectorPath runs f once per batch-normalization kernel path, with that path active.
// A path this CPU or build cannot run is reported as skipped.
func forEachVectorPath(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	available := map[string]*vectorImpl{}
	for _, impl := range vectorImpls() {
		available[impl.name] = impl
	}
	for _, name := range []string{"avx2", "generic"} {
		t.Run(name, func(t *testing.T) {
			impl := available[name]
			if impl == nil {
				t.Skipf("path %s is not available: it needs amd64 with AVX2 and FMA3 and a "+
					"build without the noasm tag", name)
			}
			restore := useVectorImpl(impl)
			defer restore()
			f(t)
		})
	}
}

// vectorLengths are the lengths that the batch-normalization tests try: around the
// assembly blocks of 8, 16 and 32 elements, and the planes of the network.
var vectorLengths = []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 256, 1024, 1031}

// guardedVector returns n values from fill inside sentinel guard bands.
func guardedVector(n int, fill func() float32) *guarded { return newGuarded(1, n, n, fill) }

// testReLU is the ReLU of the gradient tests: its output x·2 − 5 is exactly 0 at x = 2.5.
var testReLU = &NormReLU{Scale: 2, Shift: -5}

// reluInputs returns a generator of inputs in [2, 3) for testReLU, which are 2.5 about one
// time in eight, so that the mask is exercised on outputs of exactly 0 too.
func reluInputs(rng *rand.Rand) func() float32 {
	return func() float32 {
		if rng.IntN(8) == 0 {
			return 2.5
		}
		return 2 + rng.Float32()
	}
}

// forwardReLUMask returns which of the n inputs in x the forward pass, ScaleShift with
// testReLU, sends to an output of 0 or less.
func forwardReLUMask(x *guarded, n int) []bool {
	y := make([]float32, n)
	ScaleShift(y, x.data(), testReLU.Scale, testReLU.Shift, true)
	masked := make([]bool, n)
	for i, v := range y {
		masked[i] = v <= 0
	}
	return masked
}

func TestSumSquares(t *testing.T) {
	forEachVectorPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(41, 42))
		for _, n := range vectorLengths {
			// An offset of 3 makes E[x²] − E[x]² cancel, as it does for real activations.
			x := guardedVector(n, func() float32 { return 3 + rng.Float32() })
			sum, sumSq := SumSquares(x.data())
			var wantSum, wantSq float64
			for i := range n {
				v := float64(x.at(0, i))
				wantSum += v
				wantSq += v * v
			}
			assert.InDelta(t, wantSum, sum, 1e-12*math.Max(1, wantSum), "n=%d sum", n)
			assert.InDelta(t, wantSq, sumSq, 1e-12*math.Max(1, wantSq), "n=%d squares", n)
			x.checkUnchanged(t, "x", false, fmt.Sprintf("SumSquares n=%d", n))
		}
	})
}

func TestScaleShift(t *testing.T) {
	forEachVectorPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(43, 44))
		for _, n := range vectorLengths {
			for _, relu := range []bool{false, true} {
				src := guardedVector(n, uniform(rng))
				dst := guardedVector(n, nil)
				const scale, shift = 1.7, -0.3
				ScaleShift(dst.data(), src.data(), scale, shift, relu)
				label := fmt.Sprintf("ScaleShift n=%d relu=%v", n, relu)
				src.checkUnchanged(t, "src", false, label)
				dst.checkUnchanged(t, "dst outside the vector", true, label)
				for i := range n {
					want := float64(src.at(0, i))*scale + shift
					if relu {
						want = math.Max(want, 0)
					}
					if math.Abs(float64(dst.at(0, i))-want) > 2e-7*(math.Abs(want)+1) {
						t.Fatalf("%s: dst[%d] = %v, want %v", label, i, dst.at(0, i), want)
					}
				}
			}
		}
	})
}

func TestScaleShiftKeepsNaN(t *testing.T) {
	forEachVectorPath(t, func(t *testing.T) {
		for _, n := range []int{3, 40} {
			src := make([]float32, n)
			for i := range src {
				src[i] = -1
			}
			src[1] = float32(math.NaN())
			dst := make([]float32, n)
			ScaleShift(dst, src, 2, 0, true)
			assert.True(t, math.IsNaN(float64(dst[1])), "n=%d: got %v", n, dst[1])
			assert.Equal(t, float32(0), dst[0], "n=%d", n)
		}
	})
}

func TestBatchNormGradSums(t *testing.T) {
	forEachVectorPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(45, 46))
		for _, n := range vectorLengths {
			for _, relu := range []*NormReLU{nil, testReLU} {
				dy := guardedVector(n, uniform(rng))
				x := guardedVector(n, reluInputs(rng))
				masked := forwardReLUMask(x, n)
				const mean = 2.5
				sumDy, sumDyX := BatchNormGradSums(dy.data(), x.data(), mean, relu)
				var want, wantX, scale float64
				for i := range n {
					if relu != nil && masked[i] {
						continue
					}
					e := float64(dy.at(0, i))
					want += e
					wantX += e * float64(x.at(0, i)-mean)
					scale += math.Abs(e)
				}
				label := fmt.Sprintf("BatchNormGradSums n=%d relu=%v", n, relu != nil)
				assert.InDelta(t, want, sumDy, 1e-12*(scale+1), label+" Σdy")
				assert.InDelta(t, wantX, sumDyX, 1e-12*(scale+1), label+" Σdy·(x−mean)")
				for _, v := range []*guarded{dy, x} {
					v.checkUnchanged(t, "input", false, label)
				}
			}
		}
	})
}

func TestBatchNormGradInput(t *testing.T) {
	forEachVectorPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(47, 48))
		for _, n := range vectorLengths {
			for _, relu := range []*NormReLU{nil, testReLU} {
				dy := guardedVector(n, uniform(rng))
				x := guardedVector(n, reluInputs(rng))
				masked := forwardReLUMask(x, n)
				dx := guardedVector(n, nil)
				const mean, a, b, c = 2.5, 0.7, -1.3, 0.05
				BatchNormGradInput(dx.data(), dy.data(), x.data(), mean, a, b, c, relu)
				label := fmt.Sprintf("BatchNormGradInput n=%d relu=%v", n, relu != nil)
				dx.checkUnchanged(t, "dx outside the vector", true, label)
				for i := range n {
					e := float64(dy.at(0, i))
					if relu != nil && masked[i] {
						e = 0
					}
					want := a*e + b*float64(x.at(0, i)-mean) + c
					if math.Abs(float64(dx.at(0, i))-want) > 5e-7 {
						t.Fatalf("%s: dx[%d] = %v, want %v", label, i, dx.at(0, i), want)
					}
				}
			}
		}
	})
}

// TestBatchNormReLUMaskMatchesForward checks on random scales, shifts and inputs near the
// ReLU's threshold that the gradient kernels pass the gradient exactly where ScaleShift gives
// a positive output.
func TestBatchNormReLUMaskMatchesForward(t *testing.T) {
	forEachVectorPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(49, 50))
		const n = 1031
		x, dy, y, dx := make([]float32, n), make([]float32, n), make([]float32, n),
			make([]float32, n)
		for trial := range 50 {
			relu := &NormReLU{Scale: float32(rng.NormFloat64()), Shift: float32(rng.NormFloat64())}
			// Inputs within a few units in the last place of -Shift/Scale, where the output
			// crosses 0.
			threshold := -relu.Shift / relu.Scale
			for i := range x {
				x[i] = threshold * (1 + float32(rng.IntN(9)-4)*6e-8)
				dy[i] = 1
			}
			ScaleShift(y, x, relu.Scale, relu.Shift, true)
			var want float64
			for _, v := range y {
				if v > 0 {
					want++
				}
			}
			sumDy, _ := BatchNormGradSums(dy, x, 0, relu)
			assert.Equal(t, want, sumDy, "trial %d: gradients passed", trial)
			BatchNormGradInput(dx, dy, x, 0, 1, 0, 0, relu)
			for i, v := range dx {
				if (y[i] > 0) != (v == 1) {
					t.Fatalf("trial %d: output %v at %d, input gradient %v", trial, y[i], i, v)
				}
			}
		}
	})
}

func TestBatchNormKernelsKeepNaNOutputs(t *testing.T) {
	forEachVectorPath(t, func(t *testing.T) {
		n := 40
		dy, x := make([]float32, n), make([]float32, n)
		for i := range n {
			dy[i], x[i] = 1, -1
		}
		// The output 0·∞ is NaN, which passes its gradient as a positive output would.
		x[3] = 0
		relu := &NormReLU{Scale: float32(math.Inf(1))}
		sumDy, _ := BatchNormGradSums(dy, x, 0, relu)
		assert.Equal(t, 1.0, sumDy)
		dx := make([]float32, n)
		BatchNormGradInput(dx, dy, x, 0, 2, 0, 0, relu)
		assert.Equal(t, float32(2), dx[3])
		assert.Equal(t, float32(0), dx[4])
	})
}

func TestBatchNormKernelsPanic(t *testing.T) {
	short, long := make([]float32, 3), make([]float32, 4)
	assert.PanicsWithValue(t, "kernels: ScaleShift: len(src) = 3 is shorter than 4",
		func() { ScaleShift(long, short, 1, 0, false) })
	assert.PanicsWithValue(t, "kernels: BatchNormGradSums: len(x) = 3 is shorter than 4",
		func() { BatchNormGradSums(long, short, 0, testReLU) })
	assert.PanicsWithValue(t, "kernels: BatchNormGradInput: len(x) = 3 is shorter than 4",
		func() { BatchNormGradInput(long, long, short, 0, 1, 1, 1, nil) })
}
