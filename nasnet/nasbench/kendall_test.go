package nasbench

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kendallTauQuadratic is τ-b straight from its definition, over every pair.
func kendallTauQuadratic(x, y []float64) float64 {
	var concordant, discordant, tiedX, tiedY, total float64
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			total++
			dx, dy := x[i]-x[j], y[i]-y[j]
			if dx == 0 {
				tiedX++
			}
			if dy == 0 {
				tiedY++
			}
			switch {
			case dx*dy > 0:
				concordant++
			case dx*dy < 0:
				discordant++
			}
		}
	}
	return (concordant - discordant) / math.Sqrt((total-tiedX)*(total-tiedY))
}

func TestKendallTauMatchesQuadratic(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{2, 3, 5, 17, 64, 257, 1000} {
		for _, levels := range []int{2, 5, 50, 1 << 30} {
			x := make([]float64, n)
			y := make([]float64, n)
			for i := range x {
				x[i] = float64(r.IntN(levels))
				// Correlate y with x half the time so that τ spans more than 0.
				y[i] = float64(r.IntN(levels))
				if r.IntN(2) == 0 {
					y[i] = x[i]
				}
			}
			want := kendallTauQuadratic(x, y)
			got, err := KendallTau(x, y)
			if math.IsNaN(want) {
				assert.ErrorIs(t, err, ErrTauUndefined, "n=%d levels=%d", n, levels)
				continue
			}
			require.NoError(t, err, "n=%d levels=%d", n, levels)
			assert.InDelta(t, want, got, 1e-12, "n=%d levels=%d", n, levels)
		}
	}
}

func TestKendallTauKnownValues(t *testing.T) {
	got, err := KendallTau([]float64{1, 2, 3, 4}, []float64{1, 2, 3, 4})
	require.NoError(t, err)
	assert.Equal(t, 1.0, got)
	got, err = KendallTau([]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1})
	require.NoError(t, err)
	assert.Equal(t, -1.0, got)
	// Ties: C = 4, D = 1, one pair tied in x, one in y: 3 / √(5·5).
	got, err = KendallTau([]float64{1, 1, 2, 3}, []float64{1, 2, 2, 0})
	require.NoError(t, err)
	assert.InDelta(t, kendallTauQuadratic([]float64{1, 1, 2, 3}, []float64{1, 2, 2, 0}),
		got, 1e-15)
}

func TestKendallTauErrors(t *testing.T) {
	_, err := KendallTau([]float64{1, 2}, []float64{1})
	assert.ErrorContains(t, err, "x has 2 values, y has 1")
	_, err = KendallTau([]float64{1}, []float64{1})
	assert.ErrorContains(t, err, "at least 2")
	_, err = KendallTau([]float64{1, math.NaN()}, []float64{1, 2})
	assert.ErrorContains(t, err, "NaN")
	_, err = KendallTau([]float64{3, 3, 3}, []float64{1, 2, 3})
	assert.ErrorIs(t, err, ErrTauUndefined)
}
