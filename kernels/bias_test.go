package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBiasReLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, shape := range [][3]int{{1, 1, 1}, {3, 7, 7}, {5, 9, 13}, {64, 64, 67}, {0, 4, 4}} {
		rows, cols, ldc := shape[0], shape[1], shape[2]
		for _, relu := range []bool{false, true} {
			c := newGuarded(rows, cols, ldc, uniform(rng))
			bias := make([]float32, rows)
			for i := range bias {
				bias[i] = rng.Float32() - 0.5
			}
			BiasReLU(c.data(), rows, cols, ldc, bias, relu)
			c.checkUnchanged(t, "C outside the matrix", true, "BiasReLU")
			for i := 0; i < rows; i++ {
				for j := 0; j < cols; j++ {
					want := c.initial(i, j) + bias[i]
					if relu && want < 0 {
						want = 0
					}
					if c.at(i, j) != want {
						t.Fatalf("BiasReLU rows=%d cols=%d ldc=%d relu=%v: C[%d,%d] = %v, "+
							"want %v", rows, cols, ldc, relu, i, j, c.at(i, j), want)
					}
				}
			}
		}
	}
}

func TestBiasReLUKeepsNaN(t *testing.T) {
	c := []float32{float32(math.NaN()), -2, 3}
	BiasReLU(c, 1, 3, 3, []float32{1}, true)
	assert.True(t, math.IsNaN(float64(c[0])), "NaN input, got %v", c[0])
	assert.Equal(t, float32(0), c[1])
	assert.Equal(t, float32(4), c[2])
}

func TestBiasReLUPanics(t *testing.T) {
	c := make([]float32, 6)
	assert.PanicsWithValue(t, "kernels: BiasReLU: len(bias) = 1 is shorter than rows = 2",
		func() { BiasReLU(c, 2, 3, 3, []float32{1}, true) })
	assert.PanicsWithValue(t,
		"kernels: BiasReLU: len(c) = 6 is too short for 2×3 with ldc = 4 (want >= 7)",
		func() { BiasReLU(c, 2, 3, 4, []float32{1, 2}, true) })
}
