package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/internal/datatest"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/nasnet"
	"github.com/renasgo/renas/nasnet/cifar10"
	"github.com/renasgo/renas/nn"
	"github.com/renasgo/renas/tensor"
)

func runCommand(t *testing.T, ctx context.Context, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestHelp(t *testing.T) {
	_, stderr, err := runCommand(t, context.Background(), "--help")
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, name := range []string{"--width", "--epochs", "--batch-size", "--lr", "--momentum",
		"--nesterov", "--weight-decay", "--label-smoothing", "--warmup-epochs", "--optimizer",
		"--grad-clip", "--cutout", "--precision", "--seed", "--threads", "--data", "--out",
		"--resume", "--log", "--plot", "--limit-train", "--eval-limit", "--quiet"} {
		assert.Regexp(t, `(?m)^  -`+strings.TrimPrefix(name, "--")+`\b`, stderr, name)
	}
}

func TestBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--width", "3"}, "--width must be a positive even number up to 1024, got 3"},
		{[]string{"--width", "1026"}, "--width must be a positive even number up to 1024"},
		{[]string{"--width", "0"}, "--width"},
		{[]string{"--epochs", "0"}, "--epochs must be positive"},
		{[]string{"--batch-size", "-1"}, "--batch-size must be positive"},
		{[]string{"--lr", "0"}, "--lr must be a positive finite number, got 0"},
		{[]string{"--lr", "NaN"}, "--lr must be a positive finite number"},
		{[]string{"--lr", "Inf"}, "--lr must be a positive finite number, got +Inf"},
		{[]string{"--momentum", "NaN"}, "--momentum must be in [0, 1), got NaN"},
		{[]string{"--weight-decay", "NaN"}, "--weight-decay must be 0 or a positive finite"},
		{[]string{"--weight-decay", "Inf"}, "--weight-decay must be 0 or a positive finite"},
		{[]string{"--label-smoothing", "NaN"}, "--label-smoothing must be in [0, 1), got NaN"},
		{[]string{"--epochs", "2", "--warmup-epochs", "3"}, "--warmup-epochs"},
		{[]string{"--momentum", "1"}, "--momentum must be in [0, 1), got 1"},
		{[]string{"--momentum", "0.99999999999"},
			"--momentum must be in [0, 1), got 0.99999999999, which float32 rounds to 1"},
		{[]string{"--weight-decay", "1e300"},
			"--weight-decay must be 0 or a positive finite number, got 1e+300, which float32 " +
				"rounds to +Inf"},
		{[]string{"--label-smoothing", "0.999999999"}, "0.999999999, which float32 rounds to 1"},
		{[]string{"--weight-decay", "-1e-4"}, "--weight-decay"},
		{[]string{"--label-smoothing", "1"}, "--label-smoothing must be in [0, 1)"},
		{[]string{"--grad-clip", "-1"}, "--grad-clip must be 0 or a positive finite number"},
		{[]string{"--grad-clip", "NaN"}, "--grad-clip must be 0 or a positive finite number"},
		{[]string{"--cutout", "-1"}, "--cutout must be from 0 to 32 pixels, got -1"},
		{[]string{"--cutout", "33"}, "--cutout must be from 0 to 32 pixels, got 33"},
		{[]string{"--cutout", "1.5"}, `invalid value "1.5" for flag --cutout`},
		{[]string{"--optimizer", "rmsprop"}, `--optimizer must be sgd or adam, got "rmsprop"`},
		{[]string{"--precision", "int8"}, `--precision must be fp32, bf16 or fp16, got "int8"`},
		{[]string{"--threads", "-2"}, "--threads"},
		{[]string{"--threads", "1000000"}, "--threads must be from 0 to 1024, got 1000000"},
		{[]string{"--limit-train", "-5"}, "--limit-train"},
		{[]string{"--eval-limit", "-5"}, "--eval-limit"},
		{[]string{"--checkpoint-interval", "-5s"},
			"--checkpoint-interval must be 0 or positive, got -5s"},
		{[]string{"--out", "run.ckpt"}, "--out run.ckpt must end in .safetensors"},
		{[]string{"--out", "run.weights.safetensors"}, "must not end in .weights.safetensors"},
		{[]string{"--checkpoint", "a.ckpt", "--resume", "b.safetensors"}, "exclude each other"},
		{[]string{"--export", "w.pt"}, "--export w.pt must end in .ckpt or .safetensors"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--no-such-flag"}, "flag provided but not defined"},
	} {
		_, _, err := runCommand(t, context.Background(), c.args...)
		require.Error(t, err, "%v", c.args)
		assert.Contains(t, err.Error(), c.want, "%v", c.args)
		assert.NotContains(t, err.Error(), "\n", "%v: error is one line", c.args)
	}
}

func TestOutputPathsCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "run.safetensors")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", filepath.Join(dir, "none", "x.safetensors")},
			"--out: " + filepath.Join(dir, "none", "x.safetensors") + ": folder"},
		{[]string{"--out", out, "--plot", filepath.Join(dir, "none", "p.png")}, "--plot: "},
		{[]string{"--out", out, "--export", dir + "/"}, "--export"},
		{[]string{"--out", out, "--log", dir}, "--log: " + dir + " is a folder, not a file"},
		{[]string{"--out", out, "--plot", filepath.Join(dir, "p.jpg")},
			"--plot " + filepath.Join(dir, "p.jpg") + " must end in .png"},
		{[]string{"--out", out, "--export", out},
			"--out " + out + " and --export " + out + " name the same file"},
		{[]string{"--out", out, "--log", filepath.Join(dir, "run.weights.safetensors")},
			"and --log " + filepath.Join(dir, "run.weights.safetensors") + " name the same"},
	} {
		// No --data: the output check must come before the data is read.
		_, _, err := runCommand(t, context.Background(), append(c.args, "--data",
			filepath.Join(dir, "no-data"))...)
		require.Error(t, err, "%v", c.args)
		assert.Contains(t, err.Error(), c.want, "%v", c.args)
	}
}

func TestMissingData(t *testing.T) {
	dir := t.TempDir()
	_, _, err := runCommand(t, context.Background(), "--data", filepath.Join(dir, "none"),
		"--out", filepath.Join(dir, "run.safetensors"), "--quiet")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CIFAR-10 data")
	assert.Contains(t, err.Error(), "none")
}

func TestOutExistsWithoutResume(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run.safetensors")
	require.NoError(t, os.WriteFile(out, []byte("x"), 0o644))
	_, _, err := runCommand(t, context.Background(), "--out", out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), out+" already exists: continue it with --resume")
}

// writeCheckpoint trains one step of a width-2 network on 2 random images and returns the
// path of its checkpoint.
func writeCheckpoint(t *testing.T) string {
	t.Helper()
	return writeCutoutCheckpoint(t, 0)
}

// writeCutoutCheckpoint is writeCheckpoint with cutout squares of side cutout.
func writeCutoutCheckpoint(t *testing.T, cutout int) string {
	t.Helper()
	set := &cifar10.Set{Images: make([]byte, 2*cifar10.ImageBytes), Labels: make([]uint8, 2)}
	for i := range set.Images {
		set.Images[i] = byte(i * 7)
	}
	be, err := cpu.New(1)
	require.NoError(t, err)
	cfg := nasnet.LoopConfig{Width: 2, Epochs: 2, LR: 0.1, Seed: 3, Cutout: cutout,
		Train: nasnet.TrainConfig{BatchSize: 2, Momentum: 0.9}}
	loop, err := nasnet.NewTrainLoop(be, cfg, set)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "run.safetensors")
	_, err = loop.RunEpoch(context.Background(), nasnet.RunOptions{Checkpoint: path})
	require.NoError(t, err)
	return path
}

func TestResumeBadCheckpoint(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.safetensors")
	require.NoError(t, os.WriteFile(garbage, []byte("not a checkpoint at all"), 0o644))
	good := writeCheckpoint(t)
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing file", []string{"--resume", filepath.Join(dir, "none.safetensors")},
			[]string{"--resume", "none.safetensors", "no such file"}},
		{"garbage", []string{"--resume", garbage}, []string{"--resume: " + garbage + ":"}},
		{"other width", []string{"--resume", good, "--width", "8"},
			[]string{good, "trained with --width 2, this run has 8"}},
		{"other optimizer", []string{"--resume", good, "--optimizer", "adam"},
			[]string{good, "trained with --optimizer sgd, this run has adam"}},
		{"other cutout", []string{"--resume", good, "--cutout", "8"},
			[]string{good, "trained with --cutout 0, this run has 8"}},
		{"log on the checkpoint", []string{"--resume", good, "--log", good},
			[]string{"--log " + good + " and --resume " + good + " name the same file: " +
				"give --log another path"}},
		{"whole set on a limited run", []string{"--resume", good, "--limit-train", "0"},
			[]string{good, "trained with --limit-train 2, this run has 0"}},
		{"existing other out", []string{"--resume", good, "--out", garbage},
			[]string{garbage + " already exists"}},
	} {
		_, _, err := runCommand(t, context.Background(), c.args...)
		require.Error(t, err, c.name)
		for _, want := range c.want {
			assert.Contains(t, err.Error(), want, c.name)
		}
		assert.NotContains(t, err.Error(), "\n", "%s: error is one line", c.name)
	}
}

func TestApplyCheckpointKeepsStoredValues(t *testing.T) {
	path := writeCheckpoint(t)
	stored, err := nasnet.ReadCheckpointInfo(path)
	require.NoError(t, err)
	var stderr bytes.Buffer
	cfg, err := parseFlags([]string{"--resume", path, "--seed", "3", "--threads", "1"}, &stderr)
	require.NoError(t, err)
	require.NoError(t, applyCheckpoint(cfg, stored))
	assert.Equal(t, stored.Config, cfg.loop)
	assert.Equal(t, 2, cfg.limitTrain)
}

func TestParseCutout(t *testing.T) {
	var stderr bytes.Buffer
	cfg, err := parseFlags(nil, &stderr)
	require.NoError(t, err)
	assert.Equal(t, 0, cfg.loop.Cutout, "default")
	for _, side := range []int{1, 16, 32} {
		cfg, err = parseFlags([]string{"--cutout", fmt.Sprint(side)}, &stderr)
		require.NoError(t, err)
		assert.Equal(t, side, cfg.loop.Cutout)
		assert.Equal(t, fmt.Sprint(side), cfg.setFlags["cutout"])
	}
}

// TestResumeKeepsCutout checks that --cutout is a training flag: a resumed run takes it from
// the checkpoint and rejects another value.
func TestResumeKeepsCutout(t *testing.T) {
	path := writeCutoutCheckpoint(t, 8)
	stored, err := nasnet.ReadCheckpointInfo(path)
	require.NoError(t, err)
	require.Equal(t, 8, stored.Config.Cutout)
	var stderr bytes.Buffer
	for _, args := range [][]string{{"--resume", path}, {"--resume", path, "--cutout", "8"}} {
		cfg, err := parseFlags(args, &stderr)
		require.NoError(t, err)
		require.NoError(t, applyCheckpoint(cfg, stored), "%v", args)
		assert.Equal(t, stored.Config, cfg.loop, "%v", args)
	}

	_, _, err = runCommand(t, context.Background(), "--resume", path, "--cutout", "0")
	require.Error(t, err)
	assert.Contains(t, err.Error(), path+": the checkpoint was trained with --cutout 8, this "+
		"run has 0")
	assert.NotContains(t, err.Error(), "\n", "error is one line")
}

// TestTrainPrecision trains one epoch on 16 real images in fp16, which logs its loss scale,
// and in bf16, which runs on bf16 convolutions where the CPU has them and in fp32 elsewhere.
func TestTrainPrecision(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: unpacks the CIFAR-10 archive and trains for a few seconds")
	}
	data := unpackCIFAR10(t)
	dir := t.TempDir()
	for _, p := range []string{"fp16", "bf16"} {
		out := filepath.Join(dir, p+".safetensors")
		_, stderr, err := runCommand(t, context.Background(), "--data", data, "--width", "4",
			"--batch-size", "8", "--epochs", "1", "--limit-train", "16", "--eval-limit", "16",
			"--threads", "2", "--quiet", "--precision", p, "--out", out)
		require.NoError(t, err, p)
		info, err := nasnet.ReadCheckpointInfo(out)
		require.NoError(t, err)
		switch {
		case p == "fp16":
			assert.Regexp(t, `loss_scale=\d+ skipped_steps=\d+`, stderr)
			assert.Equal(t, nasnet.FP16, info.Config.Train.Precision)
		case kernels.HasBF16():
			assert.Contains(t, stderr, "with bf16 convolutions")
			assert.Equal(t, nasnet.BF16, info.Config.Train.Precision)
		default:
			assert.Contains(t, stderr, "--precision bf16: training in fp32")
			assert.Equal(t, nasnet.FP32, info.Config.Train.Precision)
		}
	}
}

// TestTrainAndResume runs the command on the first 16 real training images for 3 epochs,
// then again with an interruption once the first checkpoint exists, resumed to the end. Both
// runs must write the same weights. It also checks the log, the plot and the messages.
func TestTrainAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: unpacks the CIFAR-10 archive and trains for a few seconds")
	}
	data := unpackCIFAR10(t)
	dir := t.TempDir()
	args := func(name string, extra ...string) []string {
		return append([]string{"--data", data, "--width", "4", "--batch-size", "8",
			"--epochs", "3", "--limit-train", "16", "--eval-limit", "16", "--threads", "2",
			"--quiet", "--log", filepath.Join(dir, name+".jsonl"),
			"--plot", filepath.Join(dir, name+".png")}, extra...)
	}
	whole := filepath.Join(dir, "whole.safetensors")
	stdout, _, err := runCommand(t, context.Background(), args("whole", "--out", whole)...)
	require.NoError(t, err)
	assert.Contains(t, stdout, "trained 3 of 3 epochs, width 4")
	assert.Contains(t, stdout, "weights    "+filepath.Join(dir, "whole.weights.safetensors"))
	assertLogEpochs(t, filepath.Join(dir, "whole.jsonl"), 1, 2, 3)
	info, err := nasnet.ReadCheckpointInfo(whole)
	require.NoError(t, err)
	assert.Equal(t, 3, info.Epoch)
	assert.Equal(t, 16, info.TrainImages)
	f, err := os.Open(filepath.Join(dir, "whole.png"))
	require.NoError(t, err)
	_, err = png.Decode(f)
	f.Close()
	require.NoError(t, err)

	// Stop the second run as soon as its first checkpoint is on disk, wherever it is then.
	resumed := filepath.Join(dir, "resumed.safetensors")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, _, err := runCommand(t, ctx, args("resumed", "--out", resumed)...)
		done <- err
	}()
	for stopped := false; !stopped; {
		select {
		case err = <-done:
			stopped = true
		case <-time.After(5 * time.Millisecond):
			if _, statErr := os.Stat(resumed); statErr == nil {
				cancel()
			}
		}
	}
	cancel()
	if err != nil {
		require.ErrorIs(t, err, errInterrupted)
		assert.Contains(t, err.Error(), "continue with --resume "+resumed)
		_, _, err = runCommand(t, context.Background(), args("resumed", "--resume", resumed)...)
		require.NoError(t, err)
	}
	assertLogEpochs(t, filepath.Join(dir, "resumed.jsonl"), 1, 2, 3)
	want, err := nn.ReadSafetensorsFile(filepath.Join(dir, "whole.weights.safetensors"))
	require.NoError(t, err)
	got, err := nn.ReadSafetensorsFile(filepath.Join(dir, "resumed.weights.safetensors"))
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for name, w := range want {
		require.Contains(t, got, name)
		assert.Equal(t, w.Float32s(), got[name].Float32s(), name)
	}
	net, err := nasnet.LoadCheckpoint(filepath.Join(dir, "resumed.weights.safetensors"), 0)
	require.NoError(t, err)
	assert.Equal(t, 4, net.Width)

	// A MindSpore export of the same run evaluates to identical logits, and a new run can
	// start from it.
	exported := filepath.Join(dir, "exported.ckpt")
	_, _, err = runCommand(t, context.Background(), args("export", "--out",
		filepath.Join(dir, "export.safetensors"), "--export", exported)...)
	require.NoError(t, err)
	fromCkpt, err := nasnet.LoadCheckpoint(exported, 0)
	require.NoError(t, err)
	assertSameLogits(t, net, fromCkpt)
	_, _, err = runCommand(t, context.Background(), args("tuned", "--epochs", "1", "--out",
		filepath.Join(dir, "tuned.safetensors"), "--checkpoint", exported)...)
	require.NoError(t, err)

	// A process killed between its checkpoint and its log line leaves a log without its last
	// lines. A resume writes them back from the checkpoint and drops a half-written line.
	logPath := filepath.Join(dir, "whole.jsonl")
	full, err := os.ReadFile(logPath)
	require.NoError(t, err)
	first := full[:bytes.IndexByte(full, '\n')+1]
	require.NoError(t, os.WriteFile(logPath, append(slices.Clone(first), `{"epo`...), 0o644))
	plotPath := filepath.Join(dir, "whole.png")
	require.NoError(t, os.Remove(plotPath))
	_, stderr, err := runCommand(t, context.Background(), args("whole", "--resume", whole)...)
	require.NoError(t, err)
	assert.Contains(t, stderr, "already contains every epoch")
	assert.FileExists(t, plotPath, "the finished run's curves are drawn again")
	assertLogEpochs(t, logPath, 1, 2, 3)
	repaired, err := os.ReadFile(logPath)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(repaired, first), "the logged epoch is kept as it was")

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, _, err = runCommand(t, ctx, args("never", "--out",
		filepath.Join(dir, "never.safetensors"))...)
	require.ErrorIs(t, err, errInterrupted)
	assert.Contains(t, err.Error(), "before the first checkpoint; no checkpoint was written")
	assert.NoFileExists(t, filepath.Join(dir, "never.jsonl"), "no log without an epoch")
}

// unpackCIFAR10 writes the batch files of the CIFAR-10 archive into a temporary folder, which
// the command reads much faster than the compressed archive.
func unpackCIFAR10(t *testing.T) string {
	t.Helper()
	files := append(slices.Clone(cifar10.TrainFiles), cifar10.TestFiles...)
	set, err := cifar10.Load(datatest.CIFAR10Archive(t), files) // one pass over the archive
	require.NoError(t, err)
	dir := t.TempDir()
	for i, name := range files {
		records := make([]byte, 0, cifar10.RecordsPerFile*cifar10.RecordBytes)
		for k := i * cifar10.RecordsPerFile; k < (i+1)*cifar10.RecordsPerFile; k++ {
			records = append(records, set.Labels[k])
			records = append(records, set.Image(k)...)
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), records, 0o644))
	}
	return dir
}

func assertLogEpochs(t *testing.T, path string, epochs ...int) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var got []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m nasnet.EpochMetrics
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "log line %q", sc.Text())
		assert.Equal(t, 16, m.TestImages)
		assert.Greater(t, m.TrainLoss, 0.0)
		got = append(got, m.Epoch)
	}
	require.NoError(t, sc.Err())
	assert.Equal(t, epochs, got)
}

// assertSameLogits checks that two networks give bit-identical logits on random images.
func assertSameLogits(t *testing.T, a, b *nasnet.Network) {
	t.Helper()
	be, err := cpu.New(1)
	require.NoError(t, err)
	x := tensor.Zeros(3, 3, nasnet.ImageSize, nasnet.ImageSize)
	for i := range x.Float32s() {
		x.Float32s()[i] = float32(i%17) / 17
	}
	var logits [2][]float32
	for k, net := range []*nasnet.Network{a, b} {
		inf, err := nasnet.NewInference(be, net)
		require.NoError(t, err)
		out, err := inf.Forward(x)
		require.NoError(t, err)
		logits[k] = append([]float32(nil), out.Float32s()...)
	}
	assert.Equal(t, logits[0], logits[1])
}

// TestSecondRunOnSameCheckpointFails holds the lock of a checkpoint as a running train would
// and checks that a second run on it stops before the data is read.
func TestSecondRunOnSameCheckpointFails(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "run.safetensors")
	release, err := lockOutput(out)
	require.NoError(t, err)
	defer release()
	_, _, err = runCommand(t, context.Background(), "--out", out, "--data",
		filepath.Join(dir, "no-data"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("another train run (process %d) is writing %s",
		os.Getpid(), out))

	release()
	_, _, err = runCommand(t, context.Background(), "--out", out, "--data",
		filepath.Join(dir, "no-data"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CIFAR-10 data", "after the lock ends")
	assert.NoFileExists(t, out+".lock", "a run that wrote no checkpoint leaves no lock file")
}

func TestBatchLargerThanTrainingSet(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: unpacks the CIFAR-10 archive")
	}
	data := unpackCIFAR10(t)
	_, _, err := runCommand(t, context.Background(), "--data", data, "--width", "4",
		"--batch-size", "32", "--limit-train", "16", "--quiet", "--out",
		filepath.Join(t.TempDir(), "run.safetensors"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--batch-size 32 is larger than the 16 training images")
}

func TestRoundLogValues(t *testing.T) {
	assert.Equal(t, 1.2346, round(1.23456))
	assert.Equal(t, -0.5, round(-0.50001))
	assert.Equal(t, 1e305, round(1e305))
	assert.True(t, math.IsInf(round(math.Inf(-1)), -1))
	assert.True(t, math.IsNaN(round(math.NaN())))
}
