package plot

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/renasgo/renas/nasnet"
)

func TestWriteCurvesFileIsPNG(t *testing.T) {
	history := []nasnet.EpochMetrics{
		{Epoch: 1, TrainLoss: 2.1, TrainTop1: 0.2, TestLoss: 2.0, TestTop1: 0.25, TestImages: 100},
		{Epoch: 2, TrainLoss: 1.7, TrainTop1: 0.38, TestLoss: 1.8, TestTop1: 0.33, TestImages: 100},
		{Epoch: 3, TrainLoss: 1.4, TrainTop1: 0.5, TestLoss: 1.6, TestTop1: 0.41, TestImages: 100},
	}
	path := filepath.Join(t.TempDir(), "curves.png")
	require.NoError(t, WriteCurvesFile(path, history))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, int(Width/vg.Inch*vgimg.DefaultDPI), img.Bounds().Dx())
	assert.Equal(t, int(Height/vg.Inch*vgimg.DefaultDPI), img.Bounds().Dy())
}

func TestWriteCurvesWithoutTestSet(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteCurves(&buf, []nasnet.EpochMetrics{{Epoch: 1, TrainLoss: 2}}))
	_, err := png.Decode(&buf)
	assert.NoError(t, err)
}

func TestWriteCurvesRejectsEmptyHistory(t *testing.T) {
	var buf bytes.Buffer
	assert.ErrorContains(t, WriteCurves(&buf, nil), "no epochs")
	assert.Zero(t, buf.Len())
}

// TestWriteCurvesFileHugeLoss checks that a value that gonum/plot cannot put on an axis is
// an error, and that the failed write leaves no file behind.
func TestWriteCurvesFileHugeLoss(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "curves.png")
	err := WriteCurvesFile(path, []nasnet.EpochMetrics{{Epoch: 1, TrainLoss: 1e20}})
	assert.ErrorContains(t, err, "plot: cannot draw these values")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func TestWriteRunsDrawsEveryRun(t *testing.T) {
	first := []nasnet.EpochMetrics{{Epoch: 1, TrainLoss: 2.1, TestLoss: 2.0, TestImages: 10},
		{Epoch: 2, TrainLoss: 1.7, TestLoss: 1.8, TestImages: 10}}
	second := []nasnet.EpochMetrics{{Epoch: 1, TrainLoss: 2.3}, {Epoch: 2, TrainLoss: 1.2}}
	var one, two bytes.Buffer
	require.NoError(t, WriteRuns(&one, []Run{{Name: "fp32", History: first}}))
	require.NoError(t, WriteRuns(&two, []Run{{Name: "fp32", History: first},
		{Name: "bf16", History: second}}))
	_, err := png.Decode(bytes.NewReader(two.Bytes()))
	require.NoError(t, err)
	assert.NotEqual(t, one.Bytes(), two.Bytes(), "the second run is drawn")

	assert.ErrorContains(t, WriteRuns(&one, nil), "no runs")
	assert.ErrorContains(t, WriteRuns(&one, []Run{{Name: "bf16"}}),
		`run "bf16" has no epochs`)
}

// TestWriteCurvesSkipsNonFinite checks that NaN and infinite values leave gaps in the
// curves instead of failing the drawing.
func TestWriteCurvesSkipsNonFinite(t *testing.T) {
	history := []nasnet.EpochMetrics{
		{Epoch: 1, TrainLoss: 2.1, TrainTop1: 0.2, TestLoss: 2.0, TestTop1: 0.25, TestImages: 9},
		{Epoch: 2, TrainLoss: 1.7, TrainTop1: 0.4, TestLoss: math.Inf(1), TestTop1: 0.1,
			TestImages: 9},
		{Epoch: 3, TrainLoss: math.NaN(), TrainTop1: 0.5, TestLoss: math.NaN(), TestTop1: 0.4,
			TestImages: 9},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteCurves(&buf, history))
	_, err := png.Decode(&buf)
	require.NoError(t, err)

	for i := range history {
		history[i].TestLoss = math.NaN()
	}
	buf.Reset()
	require.NoError(t, WriteCurves(&buf, history), "a test loss curve with no finite point")
	_, err = png.Decode(&buf)
	assert.NoError(t, err)
}
