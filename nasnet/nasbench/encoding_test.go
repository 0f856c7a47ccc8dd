package nasbench

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncodeTestVector(t *testing.T) {
	s := mustSpec(t, testVector.matrix, testVector.ops)
	e, err := DefaultNetwork.Encode(s)
	require.NoError(t, err)
	cost, err := DefaultNetwork.Cost(s)
	require.NoError(t, err)
	for i := range MaxVertices {
		for j := range MaxVertices {
			if !s.Edge(i, j) {
				for c := range EncodingChannels {
					assert.Zero(t, e[c][i][j], "channel %d entry (%d,%d)", c, i, j)
				}
				continue
			}
			assert.Equal(t, typeCode(s.Op(j)), e[0][i][j], "type entry (%d,%d)", i, j)
			for k, cc := range cost.Cells {
				assert.InEpsilon(t, float64(cc.Vertices[j].FLOPs)/1e7+1e-30,
					float64(e[1+k][i][j])+1e-30, 1e-6, "FLOPs cell %d entry (%d,%d)", k, i, j)
				assert.InEpsilon(t, float64(cc.Vertices[j].Params)/1e5+1e-30,
					float64(e[10+k][i][j])+1e-30, 1e-6, "params cell %d entry (%d,%d)", k, i, j)
			}
		}
	}
	assert.Equal(t, float32(TypeMaxPool), e[0][1][2])
	assert.Equal(t, float32(TypeOutput), e[0][5][6])
	// Vertex 2 (a max pool) has no parameters, so its params entries are zero.
	assert.Zero(t, e[10][1][2])
}

func TestEncodePadsBeforeOutput(t *testing.T) {
	s := mustSpec(t, [][]int{{0, 1, 1}, {0, 0, 1}, {0, 0, 0}},
		[]Op{OpInput, OpConv1x1, OpOutput})
	e, err := DefaultNetwork.Encode(s)
	require.NoError(t, err)
	assert.Equal(t, float32(TypeConv1x1), e[0][0][1])
	assert.Equal(t, float32(TypeOutput), e[0][0][6])
	assert.Equal(t, float32(TypeOutput), e[0][1][6])
	for c := range EncodingChannels {
		for k := 2; k < 6; k++ {
			for other := range MaxVertices {
				assert.Zero(t, e[c][k][other], "channel %d row %d", c, k)
				assert.Zero(t, e[c][other][k], "channel %d column %d", c, k)
			}
		}
	}
	// The output carries the input projection 128→128 in cell 1.
	assert.InEpsilon(t, float64(128*128+256)/1e5, float64(e[10][0][6]), 1e-6)
	assert.Len(t, e.Floats(), 19*49)
	assert.Equal(t, e[0][0][6], e.Floats()[6])
}

func TestEncodeRejectsOtherCellCounts(t *testing.T) {
	s := mustSpec(t, testVector.matrix, testVector.ops)
	nw := DefaultNetwork
	nw.CellsPerStack = 2
	_, err := nw.Encode(s)
	assert.ErrorContains(t, err, "describes 9 cells")
	_, err = DefaultNetwork.Encode(Spec{})
	assert.Error(t, err)
}

func TestStandardizer(t *testing.T) {
	var a, b, c Encoding
	a[1][0][1], b[1][0][1], c[1][0][1] = 1, 2, 3
	a[0][2][3], b[0][2][3], c[0][2][3] = 5, 5, 5
	z, err := FitStandardizer([]Encoding{a, b, c})
	require.NoError(t, err)
	assert.InDelta(t, 2, z.Mean[1][0][1], 1e-6)
	assert.InDelta(t, 0.8164966, z.Std[1][0][1], 1e-6)
	// Constant entries get a deviation of 1 and map to 0.
	assert.Equal(t, float32(5), z.Mean[0][2][3])
	assert.Equal(t, float32(1), z.Std[0][2][3])

	out := z.Apply(c)
	assert.InDelta(t, 1.2247449, out[1][0][1], 1e-6)
	assert.Zero(t, out[0][2][3])
	assert.Zero(t, out[5][5][5])

	_, err = FitStandardizer(nil)
	assert.Error(t, err)
}
