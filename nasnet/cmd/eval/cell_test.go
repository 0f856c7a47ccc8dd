package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/nasnet"
	"github.com/renasgo/renas/nasnet/cifar10"
	"github.com/renasgo/renas/nasnet/nasbench"
)

// cellSpec is NAS-Bench-101's cell 00005c142e6f48ac74fdcf73e3439874.
const cellSpec = `{"matrix": [[0,1,0,0,1,1,0],[0,0,1,0,0,0,0],[0,0,0,1,0,0,1],
	[0,0,0,0,0,1,0],[0,0,0,0,0,1,0],[0,0,0,0,0,0,1],[0,0,0,0,0,0,0]],
	"ops": ["input","conv3x3-bn-relu","maxpool3x3","conv3x3-bn-relu","conv3x3-bn-relu",
	"conv1x1-bn-relu","output"]}`

// TestEvalCell evaluates a saved NAS-Bench-101 network with --cell and compares its loss
// with the network's own inference plan.
func TestEvalCell(t *testing.T) {
	data := fakeData(t)
	dir := t.TempDir()
	specPath := filepath.Join(dir, "cell.json")
	require.NoError(t, os.WriteFile(specPath, []byte(cellSpec), 0o644))
	cell, err := nasbench.ReadSpecFile(specPath)
	require.NoError(t, err)
	net, err := nasnet.NewBench101(cell, 8, 3)
	require.NoError(t, err)
	weights := filepath.Join(dir, "cell.safetensors")
	require.NoError(t, nasnet.SaveCheckpoint(net, weights))

	out, _, err := runEval("--data", data, "--cell", specPath, "--checkpoint", weights,
		"--limit", "20", "--json", "--quiet")
	require.NoError(t, err)
	var res struct {
		Cell  string  `json:"cell"`
		Width int     `json:"width"`
		Loss  float64 `json:"loss"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, "00005c142e6f48ac74fdcf73e3439874", res.Cell)
	assert.Equal(t, 8, res.Width)

	be, err := cpu.New(2)
	require.NoError(t, err)
	defer be.Close()
	inf, err := nasnet.NewInference(be, net)
	require.NoError(t, err)
	set, err := cifar10.LoadTest(data)
	require.NoError(t, err)
	want, err := nasnet.Evaluate(inf, set, nasnet.EvalOptions{BatchSize: 32, Limit: 20})
	require.NoError(t, err)
	assert.InDelta(t, want.Loss, res.Loss, 1e-9)

	_, _, err = runEval("--data", data, "--checkpoint", weights, "--quiet")
	assert.ErrorContains(t, err, "holds a NAS-Bench-101 network; give its cell (--cell)")
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"matrix": [[0,1],[0,0]], "ops": [1]}`),
		0o644))
	_, _, err = runEval("--data", data, "--cell", bad, "--quiet")
	assert.ErrorContains(t, err, "--cell: "+bad+": ops")
}
