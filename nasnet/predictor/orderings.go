package predictor

import "github.com/renasgo/renas/nasnet/nasbench"

// ExpandOrderings returns up to k vertex orderings of each cell, from
// nasbench.Spec.Orderings, cell after cell, and owner[i], the index in cells of the cell
// that expanded[i] orders. The first ordering of a cell is the cell itself. For k below 2,
// expanded is cells itself. A cell with no orderings, the zero Spec, is kept as it is, so that
// encoding it reports the error.
func ExpandOrderings(cells []nasbench.Spec, k int) (expanded []nasbench.Spec, owner []int) {
	owner = make([]int, 0, len(cells))
	if k < 2 {
		for i := range cells {
			owner = append(owner, i)
		}
		return cells, owner
	}
	expanded = make([]nasbench.Spec, 0, len(cells))
	for i, s := range cells {
		orderings := s.Orderings(k)
		if len(orderings) == 0 {
			orderings = []nasbench.Spec{s}
		}
		for _, o := range orderings {
			expanded = append(expanded, o)
			owner = append(owner, i)
		}
	}
	return expanded, owner
}
