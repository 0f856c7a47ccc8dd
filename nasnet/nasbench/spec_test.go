package nasbench

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testVector is the first record of NAS-Bench-101's data-1k.json: hash
// 00005c142e6f48ac74fdcf73e3439874, 8,555,530 trainable parameters.
var testVector = struct {
	matrix [][]int
	ops    []Op
	hash   string
}{
	matrix: [][]int{
		{0, 1, 0, 0, 1, 1, 0},
		{0, 0, 1, 0, 0, 0, 0},
		{0, 0, 0, 1, 0, 0, 1},
		{0, 0, 0, 0, 0, 1, 0},
		{0, 0, 0, 0, 0, 1, 0},
		{0, 0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0, 0, 0},
	},
	ops:  []Op{OpInput, OpConv3x3, OpMaxPool3x3, OpConv3x3, OpConv3x3, OpConv1x1, OpOutput},
	hash: "00005c142e6f48ac74fdcf73e3439874",
}

func mustSpec(t testing.TB, matrix [][]int, ops []Op) Spec {
	t.Helper()
	s, err := NewSpec(matrix, ops)
	require.NoError(t, err)
	return s
}

func TestHashTestVector(t *testing.T) {
	s := mustSpec(t, testVector.matrix, testVector.ops)
	assert.Equal(t, testVector.hash, s.Hash())
}

func TestHashInvariantUnderRelabelling(t *testing.T) {
	// Vertices 1 and 2 are parallel branches; swapping them gives an isomorphic cell.
	a := mustSpec(t, [][]int{
		{0, 1, 1, 0},
		{0, 0, 0, 1},
		{0, 0, 0, 1},
		{0, 0, 0, 0},
	}, []Op{OpInput, OpConv3x3, OpMaxPool3x3, OpOutput})
	b := mustSpec(t, a.Matrix(), []Op{OpInput, OpMaxPool3x3, OpConv3x3, OpOutput})
	c := mustSpec(t, a.Matrix(), []Op{OpInput, OpConv1x1, OpConv3x3, OpOutput})
	assert.Equal(t, a.Hash(), b.Hash())
	assert.NotEqual(t, a.Hash(), c.Hash())
}

func TestPruneDropsDeadVertices(t *testing.T) {
	// Vertex 2 has no path to the output and vertex 3 none from the input.
	s := mustSpec(t, [][]int{
		{0, 1, 1, 0, 0},
		{0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0},
		{0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0},
	}, []Op{OpInput, OpConv3x3, OpConv1x1, OpMaxPool3x3, OpOutput})
	assert.Equal(t, 3, s.NumVertices())
	assert.Equal(t, [][]int{{0, 1, 0}, {0, 0, 1}, {0, 0, 0}}, s.Matrix())
	assert.Equal(t, []Op{OpInput, OpConv3x3, OpOutput}, s.Ops())
}

func TestPruneEdgeLimitAfterPruning(t *testing.T) {
	// 10 edges before pruning, 8 after: vertex 5 feeds nothing.
	s := mustSpec(t, [][]int{
		{0, 1, 1, 1, 1, 1, 0},
		{0, 0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0, 0, 0},
		{0, 0, 0, 0, 0, 0, 0},
	}, []Op{OpInput, OpConv3x3, OpConv3x3, OpConv3x3, OpConv3x3, OpConv3x3, OpOutput})
	assert.Equal(t, 6, s.NumVertices())
	assert.Equal(t, 8, s.NumEdges())
}

func TestNewSpecRejects(t *testing.T) {
	ops3 := []Op{OpInput, OpConv3x3, OpOutput}
	chain3 := [][]int{{0, 1, 0}, {0, 0, 1}, {0, 0, 0}}
	full := func(n int) [][]int {
		m := make([][]int, n)
		for i := range m {
			m[i] = make([]int, n)
			for j := i + 1; j < n; j++ {
				m[i][j] = 1
			}
		}
		return m
	}
	ops7 := []Op{OpInput, OpConv3x3, OpConv3x3, OpConv3x3, OpConv3x3, OpConv3x3, OpOutput}
	cases := []struct {
		name   string
		matrix [][]int
		ops    []Op
		field  string
	}{
		{"one vertex", [][]int{{0}}, []Op{OpInput}, "matrix"},
		{"eight vertices", full(8), make([]Op, 8), "matrix"},
		{"ops length", chain3, ops3[:2], "ops"},
		{"ragged row", [][]int{{0, 1, 0}, {0, 0}, {0, 0, 0}}, ops3, "matrix"},
		{"entry two", [][]int{{0, 2, 0}, {0, 0, 1}, {0, 0, 0}}, ops3, "matrix"},
		{"lower triangle", [][]int{{0, 1, 0}, {0, 0, 1}, {1, 0, 0}}, ops3, "matrix"},
		{"self loop", [][]int{{0, 1, 0}, {0, 1, 1}, {0, 0, 0}}, ops3, "matrix"},
		{"first op", chain3, []Op{OpConv3x3, OpConv3x3, OpOutput}, "ops"},
		{"last op", chain3, []Op{OpInput, OpConv3x3, OpConv3x3}, "ops"},
		{"interior input", chain3, []Op{OpInput, OpInput, OpOutput}, "ops"},
		{"unknown op", chain3, []Op{OpInput, Op(7), OpOutput}, "ops"},
		{"disconnected", [][]int{{0, 1, 0}, {0, 0, 0}, {0, 0, 0}}, ops3, "matrix"},
		{"too many edges", full(7), ops7, "matrix"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSpec(tc.matrix, tc.ops)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidSpec)
			var specErr *SpecError
			require.True(t, errors.As(err, &specErr))
			assert.Equal(t, tc.field, specErr.Field, "error: %v", err)
		})
	}
}

func TestParseSpecJSON(t *testing.T) {
	s, err := ParseSpec([]byte(`{"matrix": [[0, 1.0, 1], [0, 0, 1], [0, 0, 0]],
		"ops": ["input", "maxpool3x3", "output"]}`))
	require.NoError(t, err)
	assert.Equal(t, 3, s.NumEdges())
	assert.Equal(t, OpMaxPool3x3, s.Op(1))

	out, err := s.MarshalJSON()
	require.NoError(t, err)
	assert.JSONEq(t, `{"matrix": [[0,1,1],[0,0,1],[0,0,0]],
		"ops": ["input","maxpool3x3","output"]}`, string(out))
}

func TestParseSpecErrorsNameField(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"syntax", `{"matrix": [[0, 1]`, "unexpected end"},
		{"not an object", `[1, 2]`, "expected a JSON object"},
		{"matrix type", `{"matrix": "x", "ops": []}`, "matrix"},
		{"missing ops", `{"matrix": [[0, 1], [0, 0]]}`, "ops: missing"},
		{"missing matrix", `{"ops": ["input", "output"]}`, "matrix: missing"},
		{"fractional entry", `{"matrix": [[0, 0.5], [0, 0]], "ops": ["input", "output"]}`,
			"matrix: entry [0][1] is 0.5"},
		{"unknown op", `{"matrix": [[0, 1], [0, 0]], "ops": ["input", "conv5x5"]}`,
			"ops: vertex 1"},
		{"op type", `{"matrix": [[0, 1], [0, 0]], "ops": ["input", 3]}`, "ops"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tc.text))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
