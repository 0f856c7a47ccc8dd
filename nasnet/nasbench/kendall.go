package nasbench

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrTauUndefined is returned by KendallTau when x or y is constant, so that τ-b has a zero
// denominator.
var ErrTauUndefined = errors.New("kendall: tau-b is undefined for a constant sequence")

// KendallTau returns Kendall's rank correlation τ-b of x and y, exactly, in O(n log n) time
// (Knight's algorithm: sort by x, then count the inversions of y with a merge sort):
//
//	τ-b = (C − D) / √((P − Tx)·(P − Ty))
//
// where C and D count the concordant and discordant pairs, P = n(n−1)/2, and Tx and Ty count
// the pairs tied in x and in y. It returns an error for sequences of different lengths,
// fewer than 2 values or a NaN, and ErrTauUndefined when x or y is constant.
func KendallTau(x, y []float64) (float64, error) {
	n := len(x)
	switch {
	case len(y) != n:
		return 0, fmt.Errorf("kendall: x has %d values, y has %d", n, len(y))
	case n < 2:
		return 0, fmt.Errorf("kendall: need at least 2 values, got %d", n)
	}
	for i := range n {
		if math.IsNaN(x[i]) || math.IsNaN(y[i]) {
			return 0, fmt.Errorf("kendall: value %d is NaN", i)
		}
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmpFloat(x[a], x[b]); c != 0 {
			return c
		}
		return cmpFloat(y[a], y[b])
	})

	// Pairs tied in x, and pairs tied in both x and y, from runs of the sorted order.
	var tiedX, tiedXY int64
	for i := 0; i < n; {
		j := i + 1
		for j < n && x[order[j]] == x[order[i]] {
			j++
		}
		tiedX += pairs(j - i)
		for k := i; k < j; {
			l := k + 1
			for l < j && y[order[l]] == y[order[k]] {
				l++
			}
			tiedXY += pairs(l - k)
			k = l
		}
		i = j
	}

	// Sorting y stably by merge sort counts the swaps: the pairs ordered one way by x and
	// the other way by y. Pairs tied in x are already in y order, so they add no swaps.
	ys := make([]float64, n)
	for i, k := range order {
		ys[i] = y[k]
	}
	discordant := mergeCountInversions(ys, make([]float64, n))

	var tiedY int64
	for i := 0; i < n; {
		j := i + 1
		for j < n && ys[j] == ys[i] {
			j++
		}
		tiedY += pairs(j - i)
		i = j
	}

	total := pairs(n)
	// C − D = total − tiedX − tiedY + tiedXY − 2·D, all exact in int64.
	numerator := total - tiedX - tiedY + tiedXY - 2*discordant
	denominator := math.Sqrt(float64(total-tiedX) * float64(total-tiedY))
	if denominator == 0 {
		return 0, ErrTauUndefined
	}
	// Rounding in the square root can push |τ| a little past 1.
	return max(-1, min(1, float64(numerator)/denominator)), nil
}

func pairs(k int) int64 { return int64(k) * int64(k-1) / 2 }

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// mergeCountInversions sorts a in place, using buf of the same length, and returns the
// number of pairs i < j with a[i] > a[j].
func mergeCountInversions(a, buf []float64) int64 {
	n := len(a)
	var inversions int64
	for width := 1; width < n; width *= 2 {
		for lo := 0; lo < n-width; lo += 2 * width {
			mid, hi := lo+width, min(lo+2*width, n)
			i, j, k := lo, mid, lo
			for i < mid && j < hi {
				if a[j] < a[i] {
					buf[k] = a[j]
					inversions += int64(mid - i)
					j++
				} else {
					buf[k] = a[i]
					i++
				}
				k++
			}
			k += copy(buf[k:], a[i:mid])
			copy(buf[k:], a[j:hi])
			copy(a[lo:hi], buf[lo:hi])
		}
	}
	return inversions
}
