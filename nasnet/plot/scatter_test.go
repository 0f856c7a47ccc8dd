package plot

import (
	"bytes"
	"image/png"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteScatterPNG(t *testing.T) {
	var buf bytes.Buffer
	s := Scatter{Title: "t", XLabel: "x", YLabel: "y", X: []float64{1, 2, 3},
		Y: []float64{0.9, 0.8, 0.95}}
	require.NoError(t, WriteScatter(&buf, s))
	img, err := png.Decode(&buf)
	require.NoError(t, err)
	assert.Greater(t, img.Bounds().Dx(), 100)

	s.Y = s.Y[:2]
	assert.ErrorContains(t, WriteScatter(&buf, s), "as many y as x")
}
