package nasnet

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/tensor"
)

func mustTensor(t testing.TB, data []float32, shape ...int) *tensor.Tensor {
	t.Helper()
	x, err := tensor.FromFloat32(data, shape...)
	require.NoError(t, err)
	return x
}
