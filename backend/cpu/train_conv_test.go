package cpu

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/tensor"
)

// TestBackwardFilterEmptyBatch checks that the weight gradient of an empty batch is zero.
func TestBackwardFilterEmptyBatch(t *testing.T) {
	b, err := New(2)
	require.NoError(t, err)
	d := backend.Conv2DDesc{InChannels: 2, OutChannels: 3, KernelH: 3, KernelW: 3, StrideH: 1,
		StrideW: 1, PadH: 1, PadW: 1}
	x, err := b.NewBuffer(0, 2, 5, 5)
	require.NoError(t, err)
	dy, err := b.NewBuffer(0, 3, 5, 5)
	require.NoError(t, err)
	dw, err := b.NewBuffer(3, 2, 3, 3)
	require.NoError(t, err)
	ones := tensor.Zeros(3, 2, 3, 3)
	for i := range ones.Float32s() {
		ones.Float32s()[i] = 1
	}
	require.NoError(t, b.Upload(dw, ones))
	require.NoError(t, b.Conv2DBackwardFilter(d, x, dy, dw))
	got := tensor.Zeros(3, 2, 3, 3)
	require.NoError(t, b.Download(got, dw))
	assert.Equal(t, make([]float32, 54), got.Float32s())
}
