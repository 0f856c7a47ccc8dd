package nasnet

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/internal/datatest"
	"github.com/renasgo/renas/nasnet/nasbench"
	"github.com/renasgo/renas/nn"
)

// TestBench101ParameterCounts builds every 20th cell of data-1k at full width (all 1,000
// take a minute and a half of random weights) and compares its parameter count with the
// data's.
func TestBench101ParameterCounts(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: draws the random weights of 50 full-width networks")
	}
	records, err := nasbench.LoadRecords(datatest.NASBench101File(t, "data-1k.json"))
	require.NoError(t, err)
	for k := 0; k < len(records); k += 20 {
		r := records[k]
		net, err := NewBench101(*r.Spec, DefaultWidth, 1)
		require.NoError(t, err)
		require.EqualValues(t, r.TrainableParameters, nn.CountTrainable(net.Params()), r.Hash)
	}
}

// testCell is the first cell of data-1k, 00005c142e6f48ac74fdcf73e3439874: vertices 2 and 5
// feed the output, vertex 5 sums the projected input and vertices 3 and 4.
func testCell(t testing.TB) nasbench.Spec {
	t.Helper()
	s, err := nasbench.NewSpec([][]int{
		{0, 1, 0, 0, 1, 1, 0},
		{0, 0, 1, 0, 0, 0, 0},
		{0, 0, 0, 1, 0, 0, 1},
		{0, 0, 0, 0, 0, 1, 0},
		{0, 0, 0, 0, 0, 1, 0},
		{0, 0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0, 0, 0},
	}, []nasbench.Op{nasbench.OpInput, nasbench.OpConv3x3, nasbench.OpMaxPool3x3,
		nasbench.OpConv3x3, nasbench.OpConv3x3, nasbench.OpConv1x1, nasbench.OpOutput})
	require.NoError(t, err)
	return s
}

func TestBench101TestVector(t *testing.T) {
	cell := testCell(t)
	net, err := NewBench101(cell, DefaultWidth, 1)
	require.NoError(t, err)
	assert.Equal(t, 8_555_530, nn.CountTrainable(net.Params()))
	cost, err := nasbench.DefaultNetwork.Cost(cell)
	require.NoError(t, err)
	// The cost's FLOPs count each convolution MAC twice, plus pools, sums and the head.
	var convFLOPs int64 = cost.Stem.FLOPs
	for _, cc := range cost.Cells {
		for v, vc := range cc.Vertices {
			vc.FLOPs -= vertexNonConvFLOPs(cell, cc, v)
			convFLOPs += vc.FLOPs
		}
	}
	assert.Equal(t, convFLOPs+2*512*10, 2*net.MACs())
	names := map[string]bool{}
	for _, p := range net.Params() {
		names[p.Name] = true
	}
	for _, want := range []string{"conv1.weight", "stack0.module0.vertex_1.conv.weight",
		"stack0.module0.vertex_1.projection.bn.gamma", "stack2.module2.vertex_5.bn.beta",
		"linear.bias"} {
		assert.True(t, names[want], want)
	}
	assert.False(t, names["stack0.module0.vertex_2.conv.weight"], "the max pool has weights")
}

// vertexNonConvFLOPs returns the FLOPs of vertex v that are not convolutions: its sum and
// max pool.
func vertexNonConvFLOPs(cell nasbench.Spec, cc nasbench.CellCost, v int) int64 {
	last := cell.NumVertices() - 1
	if v == 0 {
		return 0
	}
	pixels := int64(cc.Size * cc.Size)
	c := int64(cc.VertexChannels[v])
	inputs := int64(0)
	for u := 0; u < v; u++ {
		if cell.Edge(u, v) {
			inputs++
		}
	}
	if v == last {
		if cell.Edge(0, last) && inputs > 1 {
			return c * pixels
		}
		return 0
	}
	flops := (inputs - 1) * c * pixels
	if cell.Op(v) == nasbench.OpMaxPool3x3 {
		flops += 9 * c * pixels
	}
	return flops
}

func TestNewBench101RejectsNarrowWidth(t *testing.T) {
	_, err := NewBench101(testCell(t), 0, 1)
	assert.ErrorContains(t, err, "even")
	// Three vertices feed the output: 2 channels leave the third with none.
	wide, err := nasbench.NewSpec([][]int{
		{0, 1, 1, 1, 0},
		{0, 0, 0, 0, 1},
		{0, 0, 0, 0, 1},
		{0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0},
	}, []nasbench.Op{nasbench.OpInput, nasbench.OpConv3x3, nasbench.OpConv1x1,
		nasbench.OpMaxPool3x3, nasbench.OpOutput})
	require.NoError(t, err)
	_, err = NewBench101(wide, 2, 1)
	assert.ErrorContains(t, err, "vertex 3 of the cell with no channels")
}
