package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/nasnet"
	"github.com/renasgo/renas/nasnet/cifar10"
	"github.com/renasgo/renas/nn"
	"github.com/renasgo/renas/tensor"
)

// fakeData writes a test batch of 10,000 records into a temporary folder.
func fakeData(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	b := make([]byte, cifar10.RecordsPerFile*cifar10.RecordBytes)
	for i := range cifar10.RecordsPerFile {
		b[i*cifar10.RecordBytes] = byte(i % 10)
		for j := 1; j < cifar10.RecordBytes; j += 7 {
			b[i*cifar10.RecordBytes+j] = byte(i + j)
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "test_batch.bin"), b, 0o644))
	return dir
}

func runEval(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := run(args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestEvalJSON(t *testing.T) {
	data := fakeData(t)
	logits := filepath.Join(t.TempDir(), "l.npy")
	out, _, err := runEval("--data", data, "--width", "8", "--limit", "40", "--batch-size", "16",
		"--json", "--quiet", "--save-logits", logits)
	require.NoError(t, err)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, 40.0, res["images"])
	for _, key := range []string{"top1", "top5", "loss", "images_per_second"} {
		assert.Contains(t, res, key)
	}
	top1 := res["top1"].(float64)
	assert.True(t, top1 >= 0 && top1 <= 1, "top1 %v is a fraction", top1)
	st, err := os.Stat(logits)
	require.NoError(t, err)
	assert.Equal(t, int64(128+40*10*4), st.Size())
}

func TestEvalJSONNonFiniteLoss(t *testing.T) {
	net, err := nasnet.New(4, 1)
	require.NoError(t, err)
	// Every logit overflows to +Inf, so the loss is NaN and the tie goes to class 0.
	for _, values := range [][]float32{net.Head.Weight.Float32s(), net.Head.Bias.Float32s()} {
		for i := range values {
			values[i] = math.MaxFloat32
		}
	}
	path := filepath.Join(t.TempDir(), "huge.safetensors")
	require.NoError(t, nasnet.SaveCheckpoint(net, path))
	args := []string{"--data", fakeData(t), "--checkpoint", path, "--limit", "4", "--quiet"}

	out, _, err := runEval(args...)
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^loss +NaN$`, out)

	out, _, err = runEval(append(args, "--json")...)
	require.NoError(t, err)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Contains(t, res, "loss")
	assert.Nil(t, res["loss"])
	assert.Equal(t, 4.0, res["images"])
	assert.Equal(t, 0.25, res["top1"], "labels 0 to 3, ties ranked by class")
	assert.Equal(t, 1.0, res["top5"])
}

// TestEvalFlip checks that --flip is reported in both output forms and changes the loss.
func TestEvalFlip(t *testing.T) {
	data := fakeData(t)
	args := []string{"--data", data, "--width", "6", "--limit", "12", "--quiet"}
	losses := map[bool]any{}
	for _, flip := range []bool{false, true} {
		a := append(args, "--json")
		if flip {
			a = append(a, "--flip")
		}
		out, _, err := runEval(a...)
		require.NoError(t, err)
		var res map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &res))
		assert.Equal(t, flip, res["flip"])
		losses[flip] = res["loss"]
	}
	assert.NotEqual(t, losses[false], losses[true])
	out, _, err := runEval(append(args, "--flip")...)
	require.NoError(t, err)
	assert.Contains(t, out, "width 6, flip-averaged, CPU")
}

func TestEvalDropLast(t *testing.T) {
	out, _, err := runEval("--data", fakeData(t), "--width", "4", "--limit", "40",
		"--batch-size", "16", "--drop-last", "--json", "--quiet")
	require.NoError(t, err)
	assert.Contains(t, out, `"images":32`)
}

func TestEvalCheckpointRoundTrip(t *testing.T) {
	net, err := nasnet.New(6, 3)
	require.NoError(t, err)
	ckpt := filepath.Join(t.TempDir(), "w6.safetensors")
	require.NoError(t, nasnet.SaveCheckpoint(net, ckpt))
	data := fakeData(t)
	a, _, err := runEval("--data", data, "--checkpoint", ckpt, "--limit", "20", "--json",
		"--quiet")
	require.NoError(t, err)
	b, _, err := runEval("--data", data, "--width", "6", "--seed", "3", "--limit", "20",
		"--json", "--quiet")
	require.NoError(t, err)
	var ra, rb map[string]any
	require.NoError(t, json.Unmarshal([]byte(a), &ra))
	require.NoError(t, json.Unmarshal([]byte(b), &rb))
	assert.Equal(t, rb["loss"], ra["loss"], "checkpoint reproduces the seeded network")
}

func TestEvalBadInput(t *testing.T) {
	data := fakeData(t)
	dir := t.TempDir()
	truncated := filepath.Join(dir, "trunc")
	require.NoError(t, os.MkdirAll(truncated, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(truncated, "test_batch.bin"),
		make([]byte, 5000), 0o644))

	net, err := nasnet.New(8, 1)
	require.NoError(t, err)
	wrongShape := filepath.Join(dir, "shape.safetensors")
	var tensors []nn.NamedTensor
	for _, p := range net.Params() {
		v := p.Value
		if p.Name == "linear.bias" {
			v = tensor.Zeros(11)
		}
		tensors = append(tensors, nn.NamedTensor{Name: p.Name, Tensor: v})
	}
	require.NoError(t, nn.WriteSafetensorsFile(wrongShape, tensors))
	wrongName := filepath.Join(dir, "name.safetensors")
	tensors[len(tensors)-1].Name = "linear.b"
	require.NoError(t, nn.WriteSafetensorsFile(wrongName, tensors))
	garbage := filepath.Join(dir, "garbage.safetensors")
	require.NoError(t, os.WriteFile(garbage, []byte("\xff\xff\xff\xff\xff\xff\xff\x7fxx"),
		0o644))

	cases := []struct {
		name string
		args []string
		msg  string
	}{
		{"unknown platform", []string{"--platform", "TPU"}, `unknown platform "TPU"`},
		{"gpu", []string{"--platform", "GPU"}, "backend is not available in this build"},
		{"limit too big", []string{"--limit", "10001"}, "--limit 10001 is out of range"},
		{"limit negative", []string{"--limit", "-1"}, "--limit must be"},
		{"batch", []string{"--batch-size", "0"}, "--batch-size must be positive"},
		{"threads", []string{"--threads", "5000"}, "--threads must be from 0 to 1024, got 5000"},
		{"odd width", []string{"--width", "7"}, "--width must be"},
		{"truncated data", []string{"--data", truncated}, "size is 5000 bytes"},
		{"missing data", []string{"--data", filepath.Join(dir, "nope")}, "make data"},
		{"wrong shape", []string{"--checkpoint", wrongShape},
			"linear.bias: checkpoint [11], model [10]"},
		{"wrong name", []string{"--checkpoint", wrongName}, "1 missing (linear.bias)"},
		{"other width", []string{"--checkpoint", wrongName, "--width", "16"},
			"the checkpoint holds a width-8 network, not width 16"},
		{"garbage", []string{"--checkpoint", garbage}, "invalid safetensors file"},
		{"format", []string{"--checkpoint", filepath.Join(dir, "x.pt")},
			"unsupported checkpoint format"},
		{"argument", []string{"extra"}, "unexpected argument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--data", data, "--width", "8", "--quiet"}, tc.args...)
			_, _, err := runEval(args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

// TestExitStatus runs the command as a process and checks that bad input gives exit status 2
// and one line on stderr, with no stack trace.
func TestExitStatus(t *testing.T) {
	if os.Getenv("EVAL_TEST_MAIN") == "1" {
		os.Args = append([]string{"eval"}, strings.Fields(os.Getenv("EVAL_TEST_ARGS"))...)
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestExitStatus$")
	cmd.Env = append(os.Environ(), "EVAL_TEST_MAIN=1", "EVAL_TEST_ARGS=--platform Ascend")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 2, exit.ExitCode())
	assert.Equal(t, "eval: --platform: Ascend backend is not available in this build "+
		"(this build has CPU)\n", stderr.String())
}

func TestEvalRejectsNonFiniteWeights(t *testing.T) {
	net, err := nasnet.New(4, 1)
	require.NoError(t, err)
	net.Head.Weight.Float32s()[3] = float32(math.NaN())
	path := filepath.Join(t.TempDir(), "nan.safetensors")
	require.NoError(t, nasnet.SaveCheckpoint(net, path))
	logits := filepath.Join(t.TempDir(), "keep.npy")
	require.NoError(t, os.WriteFile(logits, []byte("GOOD"), 0o644))
	_, _, err = runEval("--data", fakeData(t), "--checkpoint", path, "--limit", "4", "--json",
		"--quiet", "--save-logits", logits)
	require.ErrorContains(t, err, "tensor linear.weight contains NaN or infinite values")
	got, err := os.ReadFile(logits)
	require.NoError(t, err)
	assert.Equal(t, "GOOD", string(got), "a failed run leaves the logits file alone")

	net, err = nasnet.New(4, 1)
	require.NoError(t, err)
	net.BN1.MovingVariance.Float32s()[2] = -0.5
	require.NoError(t, nasnet.SaveCheckpoint(net, path))
	_, _, err = runEval("--data", fakeData(t), "--checkpoint", path, "--limit", "4")
	require.ErrorContains(t, err, path+": tensor bn1.moving_variance contains negative values")
}

func TestEvalChecksOutputAndSizesEarly(t *testing.T) {
	data := fakeData(t)
	dir := t.TempDir()
	folder := filepath.Join(dir, "folder.npy")
	require.NoError(t, os.Mkdir(folder, 0o755))
	net, err := nasnet.New(4, 1)
	require.NoError(t, err)
	ckpt := filepath.Join(dir, "w4.safetensors")
	require.NoError(t, nasnet.SaveCheckpoint(net, ckpt))
	link := filepath.Join(dir, "link.npy")
	require.NoError(t, os.Symlink(ckpt, link))
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"--save-logits", filepath.Join(dir, "none", "x.npy")}, "does not exist"},
		{[]string{"--save-logits", folder}, folder + " is a folder, not a file"},
		{[]string{"--save-logits", filepath.Join(dir, "x.txt")}, "x.txt must end in .npy"},
		{[]string{"--checkpoint", ckpt, "--save-logits", link},
			"--save-logits " + link + " and --checkpoint " + ckpt + " name the same file"},
		{[]string{"--width", "4096"}, "must be 0 or a positive even number up to 1024"},
		{[]string{"--bogus"}, "flag provided but not defined: --bogus (see --help)"},
		{[]string{"--width", "512", "--batch-size", "1000000"},
			"--batch-size 1000000: a batch of 10000 images needs"},
		{[]string{"--limit", "10", "--drop-last"},
			"--drop-last leaves no images: 10 images make no whole batch of --batch-size 32"},
	}
	for _, tc := range cases {
		args := append([]string{"--data", data, "--width", "4", "--quiet"}, tc.args...)
		_, stderr, err := runEval(args...)
		require.Error(t, err, "%v", tc.args)
		assert.Contains(t, err.Error(), tc.msg)
		assert.Empty(t, stderr, "%v: nothing but the error line", tc.args)
	}
}

// TestEvalPrecision evaluates the same network in fp32, with binary16 weights and with bf16
// convolutions: the logits move by the rounding of the weights or of the convolution inputs
// and no more. A CPU without bf16 kernels evaluates bf16 in fp32, with a warning.
func TestEvalPrecision(t *testing.T) {
	data := fakeData(t)
	dir := t.TempDir()
	logits := map[string][]float32{}
	bf16 := "fp32"
	if kernels.HasBF16() {
		bf16 = "bf16"
	}
	for _, p := range []string{"fp32", "fp16", "bf16"} {
		path := filepath.Join(dir, p+".npy")
		out, errOut, err := runEval("--data", data, "--width", "8", "--limit", "16",
			"--precision", p, "--json", "--quiet", "--save-logits", path)
		require.NoError(t, err, p)
		var res map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &res))
		want := map[string]string{"fp32": "fp32", "fp16": "fp16", "bf16": bf16}[p]
		assert.Equal(t, want, res["precision"], p)
		if p == "bf16" && bf16 == "fp32" {
			assert.Contains(t, errOut, "--precision bf16: evaluating in fp32")
			assert.Contains(t, errOut, "no bf16 kernels on this device")
		}
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		body := raw[128:]
		l := make([]float32, len(body)/4)
		for i := range l {
			l[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
		}
		logits[p] = l
	}
	var maxAbs float64
	maxDiff := map[string]float64{}
	for i, v := range logits["fp32"] {
		maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
		for _, p := range []string{"fp16", "bf16"} {
			maxDiff[p] = math.Max(maxDiff[p], math.Abs(float64(logits[p][i]-v)))
		}
	}
	assert.Greater(t, maxDiff["fp16"], 0.0, "binary16 weights change the logits")
	assert.Less(t, maxDiff["fp16"], 1e-2*maxAbs, "by about the binary16 rounding")
	if bf16 == "fp32" {
		assert.Zero(t, maxDiff["bf16"], "bf16 runs in fp32")
	} else {
		assert.Greater(t, maxDiff["bf16"], 0.0, "bf16 convolutions change the logits")
		assert.Less(t, maxDiff["bf16"], 5e-2*maxAbs, "by about the bf16 rounding")
	}
	_, _, err := runEval("--data", data, "--precision", "int8")
	assert.ErrorContains(t, err, `--precision must be fp32, fp16 or bf16, got "int8"`)
}
