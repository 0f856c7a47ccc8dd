package nasnet

import (
	"fmt"
	"math"
)

// CosineSchedule is a per-step learning rate: a linear warm-up to BaseLR over WarmupSteps
// steps, then a half cosine from BaseLR down to 0 over the remaining steps. With step s
// counted from 0, W = WarmupSteps and T = TotalSteps:
//
//	0 ≤ s < W:       BaseLR · (s+1) / W
//	W ≤ s < T:       BaseLR · ½ · (1 + cos(π · (s−W) / (T−W)))
//	s < 0 or s ≥ T:  0
//
// The first step after warm-up runs at BaseLR, and the last one (s = T−1) at a small
// positive rate.
type CosineSchedule struct {
	BaseLR      float64
	WarmupSteps int
	TotalSteps  int
}

// Validate returns an error unless BaseLR is positive and finite and
// 0 ≤ WarmupSteps ≤ TotalSteps.
func (c CosineSchedule) Validate() error {
	switch {
	case !(c.BaseLR > 0) || math.IsInf(c.BaseLR, 0):
		return fmt.Errorf("schedule: learning rate must be positive, got %v", c.BaseLR)
	case c.TotalSteps <= 0:
		return fmt.Errorf("schedule: total steps must be positive, got %d", c.TotalSteps)
	case c.WarmupSteps < 0 || c.WarmupSteps > c.TotalSteps:
		return fmt.Errorf("schedule: warm-up of %d steps must be within the %d total steps",
			c.WarmupSteps, c.TotalSteps)
	}
	return nil
}

// LR returns the learning rate of step s, counted from 0.
func (c CosineSchedule) LR(s int) float64 {
	switch {
	case s < 0 || s >= c.TotalSteps:
		return 0
	case s < c.WarmupSteps:
		return c.BaseLR * float64(s+1) / float64(c.WarmupSteps)
	}
	progress := float64(s-c.WarmupSteps) / float64(c.TotalSteps-c.WarmupSteps)
	return c.BaseLR * 0.5 * (1 + math.Cos(math.Pi*progress))
}
