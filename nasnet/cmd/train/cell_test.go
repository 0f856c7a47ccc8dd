package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/nasnet"
)

// TestTrainCell trains the NAS-Bench-101 network around a cell for one epoch, checks that the
// checkpoint records the cell, and rejects a resume with another cell or epoch count.
func TestTrainCell(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: unpacks the CIFAR-10 archive")
	}
	data := unpackCIFAR10(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "cell.json")
	require.NoError(t, os.WriteFile(spec, []byte(`{"matrix": [[0,1,1],[0,0,1],[0,0,0]],
		"ops": ["input", "conv3x3-bn-relu", "output"]}`), 0o644))
	other := filepath.Join(dir, "other.json")
	require.NoError(t, os.WriteFile(other, []byte(`{"matrix": [[0,1],[0,0]],
		"ops": ["input", "output"]}`), 0o644))
	out := filepath.Join(dir, "cell.safetensors")
	common := []string{"--data", data, "--width", "4", "--batch-size", "8", "--limit-train",
		"16", "--eval-limit", "8", "--threads", "2", "--quiet"}
	_, stderr, err := runCommand(t, context.Background(), append(common, "--cell", spec,
		"--epochs", "1", "--out", out)...)
	require.NoError(t, err)
	assert.Contains(t, stderr, "cell=")

	_, _, err = runCommand(t, context.Background(), append(common, "--resume", out,
		"--cell", other)...)
	assert.ErrorContains(t, err, "the checkpoint was trained with --cell")
	_, _, err = runCommand(t, context.Background(), append(common, "--resume", out,
		"--epochs", "2")...)
	require.Error(t, err, "--epochs differs from the checkpoint")

	info, err := nasnet.ReadCheckpointInfo(out)
	require.NoError(t, err)
	require.NotNil(t, info.Config.Cell)
	assert.Equal(t, 1, info.Epoch)
	weights := filepath.Join(dir, "cell.weights.safetensors")
	net, err := nasnet.LoadCellCheckpoint(weights, info.Config.Cell, 0)
	require.NoError(t, err)
	assert.Equal(t, 4, net.Width)
	_, err = nasnet.LoadCheckpoint(weights, 0)
	assert.ErrorContains(t, err, "give its cell")
}
