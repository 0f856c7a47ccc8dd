package predictor

import (
	"fmt"
	"math"
)

// RankingLoss returns the pairwise logistic ranking loss of scores o against targets y and
// writes its gradient dL/do into grad (len(o)). The loss is the mean, over all ordered pairs
// i ≠ j with y_i ≠ y_j, of log(1 + exp(−(o_i − o_j)·sign(y_i − y_j))). Pairs with equal
// targets carry no order and are skipped. With no such pair the loss and gradient are 0.
// The cost is O(n²).
func RankingLoss(o []float32, y []float64, grad []float32) (float64, error) {
	if len(o) != len(y) || len(grad) != len(o) {
		return 0, fmt.Errorf("predictor: ranking loss of %d scores, %d targets and %d "+
			"gradients", len(o), len(y), len(grad))
	}
	n := len(o)
	g := make([]float64, n)
	var sum float64
	pairs := 0
	for i := range n {
		for j := range n {
			if i == j || y[i] == y[j] {
				continue
			}
			sign := 1.0
			if y[i] < y[j] {
				sign = -1
			}
			z := -(float64(o[i]) - float64(o[j])) * sign
			sum += softplus(z)
			// d softplus(z)/dz is the logistic function σ(z), and dz/do_i = −sign.
			s := sigmoid(z)
			g[i] -= sign * s
			g[j] += sign * s
			pairs++
		}
	}
	if pairs == 0 {
		clear(grad)
		return 0, nil
	}
	for i := range grad {
		grad[i] = float32(g[i] / float64(pairs))
	}
	return sum / float64(pairs), nil
}

// softplus returns log(1 + exp(z)) without overflow for large z.
func softplus(z float64) float64 {
	return math.Max(z, 0) + math.Log1p(math.Exp(-math.Abs(z)))
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
