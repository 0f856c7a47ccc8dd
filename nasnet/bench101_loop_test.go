package nasnet

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend/cpu"
)

// TestBench101TrainLoopResumes trains a NAS-Bench-101 network, stops it after the first
// epoch and resumes it: the checkpoint records the cell, the resumed run ends with the same
// weights, and a run with another cell may not resume it.
func TestBench101TrainLoopResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains for 10 steps")
	}
	cell := testCell(t)
	cfg := tinyLoopConfig(SGD)
	cfg.Width, cfg.Epochs, cfg.Cell = 6, 2, &cell
	set, test := randomSet(12, 40), randomSet(13, 16)
	dir := t.TempDir()

	be, err := cpu.New(2)
	require.NoError(t, err)
	whole, err := NewTrainLoop(be, cfg, set)
	require.NoError(t, err)
	require.NoError(t, whole.Run(context.Background(), RunOptions{
		Checkpoint: filepath.Join(dir, "whole.safetensors"), Test: test}))
	want := trainState(t, whole)

	path := filepath.Join(dir, "first.safetensors")
	l, err := NewTrainLoop(be, cfg, set)
	require.NoError(t, err)
	_, err = l.RunEpoch(context.Background(), RunOptions{Checkpoint: path, Test: test})
	require.NoError(t, err)
	require.NoError(t, l.SaveCheckpoint(path))
	info, err := ReadCheckpointInfo(path)
	require.NoError(t, err)
	require.NotNil(t, info.Config.Cell)
	assert.Equal(t, cell.Hash(), info.Config.Cell.Hash())

	resumed, err := ResumeTrainLoop(be, path, info.Config, set)
	require.NoError(t, err)
	require.NoError(t, resumed.Run(context.Background(), RunOptions{Checkpoint: path,
		Test: test}))
	requireBitIdentical(t, want, trainState(t, resumed))

	other := referenceCells(t)[1]
	wrong := cfg
	wrong.Cell = &other
	_, err = ResumeTrainLoop(be, path, wrong, set)
	assert.ErrorIs(t, err, ErrConfigMismatch)
	assert.ErrorContains(t, err, "it has cell")
	wrong.Cell = nil
	_, err = ResumeTrainLoop(be, path, wrong, set)
	assert.ErrorContains(t, err, "this run has none (the ReNAS network)")
}
