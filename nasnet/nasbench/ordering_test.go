package nasbench

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkOrderings asserts what every ordering of s must satisfy: a valid pruned cell with the
// input first, the output last, an upper-triangular matrix, the edge count and the hash of s.
func checkOrderings(t *testing.T, s Spec, orderings []Spec) {
	t.Helper()
	require.NotEmpty(t, orderings)
	assert.Equal(t, s, orderings[0], "the first ordering is the cell itself")
	seen := map[Spec]bool{}
	for k, p := range orderings {
		assert.False(t, seen[p], "ordering %d repeats an earlier one: %v", k, p)
		seen[p] = true
		m := p.Matrix()
		for i := range m {
			for j := 0; j <= i; j++ {
				assert.Zero(t, m[i][j], "ordering %d: entry [%d][%d] of %v", k, i, j, p)
			}
		}
		ops := p.Ops()
		assert.Equal(t, OpInput, ops[0], "ordering %d", k)
		assert.Equal(t, OpOutput, ops[len(ops)-1], "ordering %d", k)
		assert.Equal(t, s.NumEdges(), p.NumEdges(), "ordering %d", k)
		assert.Equal(t, s.Hash(), p.Hash(), "ordering %d: %v", k, p)
		again, err := NewSpec(m, ops)
		require.NoError(t, err, "ordering %d", k)
		assert.Equal(t, p, again, "ordering %d is not a pruned cell", k)
	}
}

func TestOrderingsTestVector(t *testing.T) {
	s := mustSpec(t, testVector.matrix, testVector.ops)
	// Vertices 1 → 2 → 3 → 5 form a chain and vertex 4 needs only to precede 5, so it may
	// take any of 4 places.
	got := s.Orderings(0)
	require.Len(t, got, 4)
	checkOrderings(t, s, got)
	// The second ordering swaps vertices 3 and 4, both conv3x3-bn-relu.
	assert.Equal(t, [][]int{
		{0, 1, 0, 1, 0, 1, 0},
		{0, 0, 1, 0, 0, 0, 0},
		{0, 0, 0, 0, 1, 0, 1},
		{0, 0, 0, 0, 0, 1, 0},
		{0, 0, 0, 0, 0, 1, 0},
		{0, 0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0, 0, 0},
	}, got[1].Matrix())
	assert.Equal(t, testVector.ops, got[1].Ops())
	// The last ordering puts vertex 4 first.
	assert.Equal(t, []Op{OpInput, OpConv3x3, OpConv3x3, OpMaxPool3x3, OpConv3x3, OpConv1x1,
		OpOutput}, got[3].Ops())
}

func TestOrderingsLimit(t *testing.T) {
	s := mustSpec(t, testVector.matrix, testVector.ops)
	all := s.Orderings(0)
	for _, limit := range []int{1, 2, 3} {
		assert.Equal(t, all[:limit], s.Orderings(limit), "limit %d", limit)
	}
	assert.Equal(t, all, s.Orderings(4))
	assert.Equal(t, all, s.Orderings(100))
	assert.Equal(t, all, s.Orderings(-1))
	assert.Equal(t, []Spec{s}, s.Orderings(1))
}

func TestOrderingsCountsLinearExtensions(t *testing.T) {
	// Two chains from input to output, a → b and c → d → e: C(5, 2) = 10 interleavings, and
	// no two give the same matrix and ops because the chains differ in length.
	twoChains := mustSpec(t, [][]int{
		{0, 1, 0, 1, 0, 0, 0},
		{0, 0, 1, 0, 0, 0, 0},
		{0, 0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 1, 0, 0},
		{0, 0, 0, 0, 0, 1, 0},
		{0, 0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0, 0, 0},
	}, []Op{OpInput, OpConv3x3, OpConv1x1, OpConv3x3, OpConv1x1, OpMaxPool3x3, OpOutput})
	chain := mustSpec(t, [][]int{
		{0, 1, 0, 0, 0},
		{0, 0, 1, 0, 0},
		{0, 0, 0, 1, 0},
		{0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0},
	}, []Op{OpInput, OpConv3x3, OpConv1x1, OpMaxPool3x3, OpOutput})
	bare := mustSpec(t, [][]int{{0, 1}, {0, 0}}, []Op{OpInput, OpOutput})
	for _, tc := range []struct {
		name string
		spec Spec
		want int
	}{{"two chains", twoChains, 10}, {"chain", chain, 1}, {"input to output", bare, 1}} {
		got := tc.spec.Orderings(0)
		assert.Len(t, got, tc.want, tc.name)
		checkOrderings(t, tc.spec, got)
	}
}

func TestOrderingsDropsRepeats(t *testing.T) {
	// Four parallel branches: 4! = 24 orders of the vertices, and each order of the ops
	// gives one matrix, so the count is the number of distinct op sequences.
	matrix := [][]int{
		{0, 1, 1, 1, 1, 0},
		{0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0, 0},
	}
	for _, tc := range []struct {
		ops  []Op
		want int
	}{
		{[]Op{OpInput, OpConv3x3, OpConv1x1, OpMaxPool3x3, OpConv3x3, OpOutput}, 12},
		{[]Op{OpInput, OpConv3x3, OpConv1x1, OpConv1x1, OpConv3x3, OpOutput}, 6},
		{[]Op{OpInput, OpConv3x3, OpConv3x3, OpConv3x3, OpConv3x3, OpOutput}, 1},
	} {
		s := mustSpec(t, matrix, tc.ops)
		got := s.Orderings(0)
		assert.Len(t, got, tc.want, "ops %v", tc.ops)
		checkOrderings(t, s, got)
	}
}

func TestOrderingsZeroSpec(t *testing.T) {
	assert.Nil(t, Spec{}.Orderings(0))
}

// bruteOrderings applies every permutation of the interior vertices in lexicographic order
// and keeps the first of each distinct upper-triangular result.
func bruteOrderings(s Spec) []Spec {
	var out []Spec
	seen := map[Spec]bool{}
	order := make([]int, s.n)
	order[s.n-1] = s.n - 1
	var permute func(pos int, used int)
	permute = func(pos int, used int) {
		if pos == s.n-1 {
			var index [MaxVertices]int
			for k, v := range order {
				index[v] = k
			}
			for u := 0; u < s.n; u++ {
				for v := 0; v < s.n; v++ {
					if s.Edge(u, v) && index[u] > index[v] {
						return
					}
				}
			}
			if p := s.permuted(order); !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
			return
		}
		for v := 1; v < s.n-1; v++ {
			if used&(1<<v) == 0 {
				order[pos] = v
				permute(pos+1, used|1<<v)
			}
		}
	}
	permute(1, 1)
	return out
}

func TestOrderingsMatchBruteForce(t *testing.T) {
	records := loadRecords(t, "data-1k.json")
	maxCount := 0
	for i, r := range records {
		require.NotNil(t, r.Spec, "record %d", i)
		got := r.Spec.Orderings(0)
		require.Equal(t, bruteOrderings(*r.Spec), got, "record %d: %v", i, r.Spec)
		assert.Equal(t, *r.Spec, got[0], "record %d", i)
		for k, p := range got {
			require.Equal(t, r.Hash, p.Hash(), "record %d ordering %d: %v", i, k, p)
		}
		maxCount = max(maxCount, len(got))
	}
	t.Logf("at most %d orderings per cell in data-1k.json", maxCount)
}
