package nasnet

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCosineScheduleValues(t *testing.T) {
	s := CosineSchedule{BaseLR: 0.1, WarmupSteps: 4, TotalSteps: 14}
	cases := []struct {
		step int
		want float64
	}{
		{-1, 0},
		{0, 0.025},
		{1, 0.05},
		{3, 0.1},
		{4, 0.1},  // first cosine step
		{9, 0.05}, // halfway through the cosine
		{6, 0.1 * 0.5 * (1 + math.Cos(math.Pi*2/10))},  // an interior step
		{13, 0.1 * 0.5 * (1 + math.Cos(math.Pi*9/10))}, // the last step
		{14, 0},
		{100, 0},
	}
	for _, c := range cases {
		assert.InDelta(t, c.want, s.LR(c.step), 1e-15, "step %d", c.step)
	}
	assert.Greater(t, s.LR(13), 0.0, "last step")
}

func TestCosineScheduleWithoutWarmup(t *testing.T) {
	s := CosineSchedule{BaseLR: 0.4, TotalSteps: 8}
	assert.Equal(t, 0.4, s.LR(0))
	assert.InDelta(t, 0.2, s.LR(4), 1e-15)
	for step := 1; step < 8; step++ {
		assert.Less(t, s.LR(step), s.LR(step-1), "step %d", step)
	}
}

func TestCosineScheduleValidate(t *testing.T) {
	assert.NoError(t, CosineSchedule{BaseLR: 0.1, WarmupSteps: 5, TotalSteps: 5}.Validate())
	for _, s := range []CosineSchedule{
		{BaseLR: 0, TotalSteps: 5},
		{BaseLR: math.NaN(), TotalSteps: 5},
		{BaseLR: math.Inf(1), TotalSteps: 5},
		{BaseLR: 0.1, TotalSteps: 0},
		{BaseLR: 0.1, WarmupSteps: -1, TotalSteps: 5},
		{BaseLR: 0.1, WarmupSteps: 6, TotalSteps: 5},
	} {
		assert.Error(t, s.Validate(), "%+v", s)
	}
}
