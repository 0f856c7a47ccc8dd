package nasbench

// Orderings returns the distinct vertex orderings of the cell, up to limit of them. An
// ordering is a permutation of the interior vertices that keeps every edge pointing from a
// lower to a higher index, so the input stays vertex 0 and the output stays last. It is a
// topological order of the DAG, and every ordering describes the same graph, with the same
// Hash. Orderings that give the same matrix and ops, such as swapped parallel vertices with
// equal ops, count once.
//
// The orderings come in the lexicographic order of their vertex sequences, old indices listed
// by new position, so the first is the cell itself. A limit below 1 returns every ordering.
// Five interior vertices allow at most 5! = 120. The zero Spec has no orderings.
func (s Spec) Orderings(limit int) []Spec {
	if s.n < 2 {
		return nil
	}
	var in [MaxVertices]uint8 // bit u of in[v] is set for the edge u→v
	for u := 0; u < s.n; u++ {
		for v := u + 1; v < s.n; v++ {
			if s.out[u]&(1<<v) != 0 {
				in[v] |= 1 << u
			}
		}
	}
	w := orderingWalk{spec: s, in: &in, limit: limit, seen: map[Spec]bool{}}
	w.order[0] = 0
	w.order[s.n-1] = s.n - 1
	w.walk(1, 1)
	return w.found
}

// orderingWalk is the state of the depth-first search of Orderings.
type orderingWalk struct {
	spec  Spec
	in    *[MaxVertices]uint8
	limit int
	order [MaxVertices]int // order[k] is the old index of the vertex at new position k
	seen  map[Spec]bool
	found []Spec
}

// walk fills order[pos:n-1] with the interior vertices not in placed, each after all its
// predecessors, smallest index first. It returns false when the limit is reached.
func (w *orderingWalk) walk(pos int, placed uint8) bool {
	last := w.spec.n - 1
	if pos == last {
		p := w.spec.permuted(w.order[:w.spec.n])
		if w.seen[p] {
			return true
		}
		w.seen[p] = true
		w.found = append(w.found, p)
		return w.limit < 1 || len(w.found) < w.limit
	}
	for v := 1; v < last; v++ {
		bit := uint8(1) << v
		if placed&bit != 0 || w.in[v]&^placed != 0 {
			continue
		}
		w.order[pos] = v
		if !w.walk(pos+1, placed|bit) {
			return false
		}
	}
	return true
}

// permuted returns the cell with old vertex order[k] moved to index k. order must be a
// topological order of the cell, so that the result keeps every edge above the diagonal.
func (s Spec) permuted(order []int) Spec {
	var index [MaxVertices]int
	for k, v := range order {
		index[v] = k
	}
	p := Spec{n: s.n}
	for k, v := range order {
		p.ops[k] = s.ops[v]
		for j := 0; j < s.n; j++ {
			if s.out[v]&(1<<j) != 0 {
				p.out[k] |= 1 << index[j]
			}
		}
	}
	return p
}
