package main

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/nasnet"
	"github.com/renasgo/renas/nn"
	"github.com/renasgo/renas/nn/mindspore"
	"github.com/renasgo/renas/tensor"
)

// These tests check nasnet.SaveCheckpoint and nasnet.LoadCheckpoint with .ckpt files, and that
// the files this command converts load into eval.

func logitsOf(t *testing.T, net *nasnet.Network, x *tensor.Tensor) []float32 {
	t.Helper()
	be, err := cpu.New(1)
	require.NoError(t, err)
	inf, err := nasnet.NewInference(be, net)
	require.NoError(t, err)
	logits, err := inf.Forward(x)
	require.NoError(t, err)
	return logits.Float32s()
}

func randomImages(t *testing.T, n int) *tensor.Tensor {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	data := make([]float32, n*3*32*32)
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	x, err := tensor.FromFloat32(data, n, 3, 32, 32)
	require.NoError(t, err)
	return x
}

// randomizeBatchNorm gives every batch normalization non-trivial statistics, so that a
// checkpoint that lost them would change the logits.
func randomizeBatchNorm(net *nasnet.Network) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, p := range net.Params() {
		if p.Value.Rank() == 1 {
			for i := range p.Value.Float32s() {
				p.Value.Float32s()[i] = 0.5 + r.Float32()
			}
		}
	}
}

func TestNetworkCkptRoundTripKeepsLogits(t *testing.T) {
	net, err := nasnet.New(8, 42)
	require.NoError(t, err)
	randomizeBatchNorm(net)
	x := randomImages(t, 1)
	want := logitsOf(t, net, x)

	dir := t.TempDir()
	path := filepath.Join(dir, "net.ckpt")
	require.NoError(t, nasnet.SaveCheckpoint(net, path))
	loaded, err := nasnet.LoadCheckpoint(path, 0)
	require.NoError(t, err)
	assert.Equal(t, 8, loaded.Width)
	assert.Equal(t, want, logitsOf(t, loaded, x), "logits after .ckpt save and load")

	// The same file converted to safetensors by this command loads with the same logits.
	st := filepath.Join(dir, "net.safetensors")
	code, _, errOut := runCkpt("convert", path, st)
	require.Equal(t, 0, code, errOut)
	fromST, err := nasnet.LoadCheckpoint(st, 8)
	require.NoError(t, err)
	assert.Equal(t, want, logitsOf(t, fromST, x), "logits after conversion to safetensors")

	ts, err := mindspore.ReadFile(path)
	require.NoError(t, err)
	params := net.Params()
	require.Len(t, ts, len(params))
	for i, p := range params {
		assert.Equal(t, p.Name, ts[i].Name)
		assert.Equal(t, "Float32", ts[i].DType, p.Name)
	}
}

// TestLoadCkptIgnoresMindSporeTrainingState loads a checkpoint laid out as MindSpore's
// ModelCheckpoint writes it: the weights, then Momentum and loss-scale state of other types.
func TestLoadCkptIgnoresMindSporeTrainingState(t *testing.T) {
	net, err := nasnet.New(8, 7)
	require.NoError(t, err)
	var ts []*mindspore.Tensor
	for _, p := range net.Params() {
		ts = append(ts, ckptTensor(t, p.Name, p.Value))
	}
	for _, p := range net.Params() {
		if p.Trainable {
			ts = append(ts, ckptTensor(t, "moments."+p.Name, p.Value))
		}
	}
	f64 := binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.1))
	ts = append(ts,
		&mindspore.Tensor{Name: "learning_rate", DType: "Float64", Data: f64},
		&mindspore.Tensor{Name: "momentum", DType: "Float64", Data: f64},
		&mindspore.Tensor{Name: "global_step", DType: "Int32", Shape: []int{1},
			Data: []byte{9, 0, 0, 0}},
		&mindspore.Tensor{Name: "scale_sense", DType: "Float32", Data: make([]byte, 4)},
		&mindspore.Tensor{Name: "current_iterator_step", DType: "Int32", Data: make([]byte, 4)},
		&mindspore.Tensor{Name: "last_overflow_iterator_step", DType: "Int32",
			Data: make([]byte, 4)},
		&mindspore.Tensor{Name: "epoch_num", DType: "Int64", Data: make([]byte, 8)},
	)
	path := filepath.Join(t.TempDir(), "ms.ckpt")
	require.NoError(t, mindspore.WriteFile(path, ts, mindspore.WriteOptions{CRC: true}))
	loaded, err := nasnet.LoadCheckpoint(path, 0)
	require.NoError(t, err)
	x := randomImages(t, 1)
	assert.Equal(t, logitsOf(t, net, x), logitsOf(t, loaded, x))

	extra := append(ts, &mindspore.Tensor{Name: "stray", DType: "Int8", Data: []byte{1}})
	require.NoError(t, mindspore.WriteFile(path, extra, mindspore.WriteOptions{}))
	_, err = nasnet.LoadCheckpoint(path, 0)
	assert.ErrorContains(t, err, "1 unexpected (stray)")
}

func TestLoadCkptRejectsIntegerWeights(t *testing.T) {
	net, err := nasnet.New(8, 1)
	require.NoError(t, err)
	var ts []*mindspore.Tensor
	for _, p := range net.Params() {
		ts = append(ts, ckptTensor(t, p.Name, p.Value))
	}
	ts[0] = &mindspore.Tensor{Name: ts[0].Name, DType: "Int32", Shape: ts[0].Shape,
		Data: ts[0].Data}
	path := filepath.Join(t.TempDir(), "int.ckpt")
	require.NoError(t, mindspore.WriteFile(path, ts, mindspore.WriteOptions{}))
	_, err = nasnet.LoadCheckpoint(path, 8)
	assert.ErrorContains(t, err, path+`: tensor "conv1.weight" has dtype I32`)
}

func ckptTensor(t *testing.T, name string, v *tensor.Tensor) *mindspore.Tensor {
	t.Helper()
	ms, err := mindspore.FromRaw(nn.NewRawTensor(name, v))
	require.NoError(t, err)
	return ms
}

// TestConvertToHalfPrecision converts a network's checkpoint to f16 and bf16: each file holds
// half the data, loads into the float32 network, and gives logits close to the original.
func TestConvertToHalfPrecision(t *testing.T) {
	net, err := nasnet.New(8, 43)
	require.NoError(t, err)
	randomizeBatchNorm(net)
	x := randomImages(t, 1)
	want := logitsOf(t, net, x)
	dir := t.TempDir()
	full := filepath.Join(dir, "net.safetensors")
	require.NoError(t, nasnet.SaveCheckpoint(net, full))

	for _, c := range []struct {
		dtype, ext, stored string
		tol                float64
	}{{"f16", ".ckpt", "Float16", 1e-2}, {"bf16", ".safetensors", "BFloat16", 5e-2}} {
		out := filepath.Join(dir, "half-"+c.dtype+c.ext)
		code, _, errOut := runCkpt("convert", "--dtype", c.dtype, full, out)
		require.Equal(t, 0, code, errOut)
		if c.ext == ".safetensors" {
			assert.Equal(t, dataBytes(t, full)/2, dataBytes(t, out), "%s data", c.dtype)
		}

		loaded, err := nasnet.LoadCheckpoint(out, 0)
		require.NoError(t, err, c.dtype)
		got := logitsOf(t, loaded, x)
		var maxDiff, maxAbs float64
		for i := range want {
			maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-want[i])))
			maxAbs = math.Max(maxAbs, math.Abs(float64(want[i])))
		}
		assert.Greater(t, maxDiff, 0.0, "%s rounds the weights", c.dtype)
		assert.Less(t, maxDiff, c.tol*maxAbs, "%s logits", c.dtype)

		if c.ext == ".ckpt" {
			ts, err := mindspore.ReadFile(out)
			require.NoError(t, err)
			assert.Equal(t, c.stored, ts[0].DType)
		}
	}

	code, _, errOut := runCkpt("convert", "--dtype", "f8", full, filepath.Join(dir, "x.ckpt"))
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `--dtype must be f16 or bf16, got "f8"`)
}

// dataBytes returns the size of the tensor data of a safetensors file.
func dataBytes(t *testing.T, path string) int {
	t.Helper()
	raw, err := nn.ReadSafetensorsRawFile(path)
	require.NoError(t, err)
	n := 0
	for _, r := range raw {
		n += len(r.Data)
	}
	return n
}
