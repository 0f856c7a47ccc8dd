package nasbench

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCostTestVector(t *testing.T) {
	s := mustSpec(t, testVector.matrix, testVector.ops)
	cost, err := DefaultNetwork.Cost(s)
	require.NoError(t, err)
	assert.Equal(t, int64(8555530), cost.Total.Params)
	assert.Equal(t, int64(2527684618), cost.Total.FLOPs)
	assert.Len(t, cost.Cells, 9)
}

func TestCostParts(t *testing.T) {
	s := mustSpec(t, testVector.matrix, testVector.ops)
	cost, err := DefaultNetwork.Cost(s)
	require.NoError(t, err)
	// Stem: 3×3×3×128 weights, gamma and beta, and 2·MACs on 32×32.
	assert.Equal(t, Cost{Params: 3456 + 256, FLOPs: 2 * 3456 * 1024}, cost.Stem)
	// Two 2×2 pools: 128 channels to 16×16 and 256 channels to 8×8.
	assert.Equal(t, Cost{FLOPs: 4 * (128*256 + 256*64)}, cost.Pools)
	// Global average pool over 512×8×8, dense 512→10 with bias.
	assert.Equal(t, Cost{Params: 5130, FLOPs: 512*64 + 2*5120 + 10}, cost.Head)

	first := cost.Cells[0]
	// Vertices 2 and 5 feed the output: 64 channels each. Vertex 1 feeds 2; 3 and 4 feed 5.
	assert.Equal(t, []int{128, 64, 64, 64, 64, 64, 128}, first.VertexChannels)
	assert.Equal(t, Cost{}, first.Vertices[0])
	// Vertex 1: projection 128→64 and a 3×3 conv 64→64.
	proj := Cost{Params: 128*64 + 128, FLOPs: 2 * 128 * 64 * 1024}
	conv := Cost{Params: 9*64*64 + 128, FLOPs: 2 * 9 * 64 * 64 * 1024}
	assert.Equal(t, Cost{proj.Params + conv.Params, proj.FLOPs + conv.FLOPs}, first.Vertices[1])
	// Vertex 2: max pool of vertex 1, 9 ops per output element.
	assert.Equal(t, Cost{FLOPs: 9 * 64 * 1024}, first.Vertices[2])
	// Vertex 5: sums vertices 0 (projected), 3 and 4, then a 1×1 conv.
	conv1 := Cost{Params: 64*64 + 128, FLOPs: 2 * 64 * 64 * 1024}
	assert.Equal(t, Cost{proj.Params + conv1.Params, proj.FLOPs + conv1.FLOPs + 2*64*1024},
		first.Vertices[5])
	assert.Equal(t, Cost{}, first.Vertices[6])
}

func TestCostInputToOutput(t *testing.T) {
	// The two-vertex cell projects its input to the output channels.
	s := mustSpec(t, [][]int{{0, 1}, {0, 0}}, []Op{OpInput, OpOutput})
	cost, err := DefaultNetwork.Cost(s)
	require.NoError(t, err)
	assert.Equal(t, Cost{Params: 128*128 + 256, FLOPs: 2 * 128 * 128 * 1024},
		cost.Cells[0].Vertices[1])
	// The first cell of the second stack maps 128 channels to 256.
	assert.Equal(t, Cost{Params: 128*256 + 512, FLOPs: 2 * 128 * 256 * 256},
		cost.Cells[3].Vertices[1])

	// With an interior vertex too, the output adds the projection to the concatenation.
	s = mustSpec(t, [][]int{{0, 1, 1}, {0, 0, 1}, {0, 0, 0}},
		[]Op{OpInput, OpMaxPool3x3, OpOutput})
	cost, err = DefaultNetwork.Cost(s)
	require.NoError(t, err)
	assert.Equal(t, Cost{Params: 128*128 + 256, FLOPs: 2*128*128*1024 + 128*1024},
		cost.Cells[0].Vertices[2])
}

func TestVertexChannelsRemainder(t *testing.T) {
	// Three vertices feed the output: 128 = 43 + 43 + 42, and vertex 1 takes the max of
	// its successors.
	s := mustSpec(t, [][]int{
		{0, 1, 0, 0, 0, 0},
		{0, 0, 1, 1, 1, 0},
		{0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0, 1},
		{0, 0, 0, 0, 0, 0},
	}, []Op{OpInput, OpConv1x1, OpConv3x3, OpConv3x3, OpMaxPool3x3, OpOutput})
	assert.Equal(t, []int{128, 43, 43, 43, 42, 128}, s.VertexChannels(128, 128))
}

func TestCostRejectsBadNetwork(t *testing.T) {
	s := mustSpec(t, testVector.matrix, testVector.ops)
	nw := DefaultNetwork
	nw.ImageSize = 30
	_, err := nw.Cost(s)
	assert.ErrorContains(t, err, "not divisible")
	nw = DefaultNetwork
	nw.Stacks = 0
	_, err = nw.Cost(s)
	assert.ErrorContains(t, err, "must be positive")
}
