package tensor

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewShapeErrors(t *testing.T) {
	_, err := New(Float32, 2, -1)
	assert.ErrorIs(t, err, ErrShape)
	_, err = New(Float32, math.MaxInt/2, 3)
	assert.ErrorIs(t, err, ErrShape)
	_, err = FromFloat32(make([]float32, 5), 2, 3)
	assert.ErrorIs(t, err, ErrShape)
}

func TestReshapeSharesStorage(t *testing.T) {
	x, err := FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	require.NoError(t, err)
	y, err := x.Reshape(3, 2)
	require.NoError(t, err)
	y.Float32s()[0] = 9
	assert.Equal(t, float32(9), x.Float32s()[0])
	_, err = x.Reshape(4, 2)
	assert.True(t, errors.Is(err, ErrShape))
}

func TestStridesNCHW(t *testing.T) {
	x := Zeros(2, 3, 4, 5)
	assert.Equal(t, []int{60, 20, 5, 1}, x.Strides())
	n, c, h, w, err := x.NCHW()
	require.NoError(t, err)
	assert.Equal(t, []int{2, 3, 4, 5}, []int{n, c, h, w})
	_, _, _, _, err = Zeros(2, 3).NCHW()
	assert.ErrorIs(t, err, ErrShape)
}

func TestToFloat32FromBits(t *testing.T) {
	x, err := FromBits16(BFloat16, []uint16{0x3f80, 0xc000}, 2)
	require.NoError(t, err)
	assert.Equal(t, []float32{1, -2}, x.ToFloat32().Float32s())
	h, err := FromBits16(Float16, []uint16{0x3c00, 0x3800}, 2)
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 0.5}, h.ToFloat32().Float32s())
}
