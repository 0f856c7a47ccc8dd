package nasnet

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/nn"
)

func TestParameterCountAtDefaultWidth(t *testing.T) {
	net, err := New(DefaultWidth, 1)
	require.NoError(t, err)
	assert.Equal(t, 4_442_506, nn.CountTrainable(net.Params()))
	assert.Equal(t, int64(1_985_348_864), net.MACs())
}

func TestParamNames(t *testing.T) {
	net, err := New(16, 1)
	require.NoError(t, err)
	names := map[string]bool{}
	for _, p := range net.Params() {
		assert.False(t, names[p.Name], "duplicate %s", p.Name)
		names[p.Name] = true
	}
	for _, want := range []string{"conv1.weight", "bn1.moving_variance",
		"block1.0.conv3x3_1.weight", "block3.2.bn3x3_3.gamma", "block2.1.proj6.weight",
		"block2.1.bn6.moving_mean", "linear.weight", "linear.bias"} {
		assert.True(t, names[want], want)
	}
	// 5 stem + 9 cells × (3×5 + 6×5) + 2 head.
	assert.Len(t, names, 5+9*45+2)
}

func TestNewRejectsOddWidth(t *testing.T) {
	_, err := New(15, 1)
	assert.ErrorContains(t, err, "even")
	_, err = New(0, 1)
	assert.Error(t, err)
}
