package nasnet

import (
	"context"
	"errors"
	"maps"
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
	"github.com/renasgo/renas/nasnet/cifar10"
	"github.com/renasgo/renas/nn"
	"github.com/renasgo/renas/tensor"
)

// tinyLoopConfig trains the width-4 network for 3 epochs in batches of 8, with one warm-up
// epoch.
func tinyLoopConfig(opt Optimizer) LoopConfig {
	return LoopConfig{Width: 4, Epochs: 3, WarmupEpochs: 1, LR: 0.05, Seed: 11,
		Train: TrainConfig{BatchSize: 8, Optimizer: opt, Momentum: 0.9, Nesterov: true,
			WeightDecay: 5e-4, LabelSmoothing: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}}
}

// smallestLoopConfig is tinyLoopConfig at width 2 and batch size 2, for tests that need a
// few steps only: one step takes about a second under -race -tags noasm.
func smallestLoopConfig() LoopConfig {
	cfg := tinyLoopConfig(SGD)
	cfg.Width, cfg.Train.BatchSize = 2, 2
	return cfg
}

// trainState returns the weights, running statistics and optimizer state of a loop, which
// must all match bit for bit between an uninterrupted and a resumed run.
func trainState(t *testing.T, l *TrainLoop) map[string]*tensor.Tensor {
	t.Helper()
	require.NoError(t, l.Trainer().SyncToHost())
	state := map[string]*tensor.Tensor{}
	for _, p := range l.Network().Params() {
		state[p.Name] = p.Value.Clone()
	}
	opt, err := l.Trainer().OptimizerState()
	require.NoError(t, err)
	for _, nt := range opt {
		state[nt.Name] = nt.Tensor
	}
	return state
}

func requireBitIdentical(t *testing.T, want, got map[string]*tensor.Tensor) {
	t.Helper()
	require.Len(t, got, len(want))
	for name, w := range want {
		g, ok := got[name]
		require.True(t, ok, "%s is missing", name)
		wf, gf := w.Float32s(), g.Float32s()
		require.Len(t, gf, len(wf), name)
		for i := range wf {
			if math.Float32bits(wf[i]) != math.Float32bits(gf[i]) {
				t.Fatalf("%s[%d] = %v after resuming, %v without interruption", name, i,
					gf[i], wf[i])
			}
		}
	}
}

// runInterrupted trains cfg until step stopStep of epoch stopEpoch, as a process killed
// there would, and returns the error of Run.
func runInterrupted(t *testing.T, cfg LoopConfig, set, test *cifar10.Set, path string,
	stopEpoch, stopStep int) error {
	t.Helper()
	be, err := cpu.New(2)
	require.NoError(t, err)
	l, err := NewTrainLoop(be, cfg, set)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	return l.Run(ctx, RunOptions{Checkpoint: path, Test: test, OnStep: func(p StepProgress) {
		if p.Epoch == stopEpoch && p.Step == stopStep {
			cancel()
		}
	}})
}

func TestTrainLoopResumeIsBitIdentical(t *testing.T) {
	for _, opt := range []Optimizer{SGD, Adam} {
		name := map[Optimizer]string{SGD: "sgd", Adam: "adam"}[opt]
		t.Run(name, func(t *testing.T) {
			if testing.Short() {
				t.Skip("-short: trains for 33 steps, several minutes under -race")
			}
			cfg := tinyLoopConfig(opt)
			set := randomSet(12, 43) // 3 images past the last full batch are dropped
			test := randomSet(13, 16)
			dir := t.TempDir()

			be, err := cpu.New(2)
			require.NoError(t, err)
			whole, err := NewTrainLoop(be, cfg, set)
			require.NoError(t, err)
			require.Equal(t, 5, whole.StepsPerEpoch())
			require.NoError(t, whole.Run(context.Background(), RunOptions{
				Checkpoint: filepath.Join(dir, "whole.safetensors"), Test: test}))
			want := trainState(t, whole)

			// Stop in the middle of epoch 2: the checkpoint still contains epoch 1.
			path := filepath.Join(dir, "resumed.safetensors")
			err = runInterrupted(t, cfg, set, test, path, 2, 3)
			require.ErrorIs(t, err, context.Canceled)
			info, err := ReadCheckpointInfo(path)
			require.NoError(t, err)
			assert.Equal(t, CheckpointInfo{Config: cfg, Epoch: 1, TrainImages: 43}, info)

			be2, err := cpu.New(2)
			require.NoError(t, err)
			resumed, err := ResumeTrainLoop(be2, path, cfg, set)
			require.NoError(t, err)
			assert.Equal(t, 1, resumed.Epoch())
			require.NoError(t, resumed.Run(context.Background(), RunOptions{Checkpoint: path,
				Test: test}))
			requireBitIdentical(t, want, trainState(t, resumed))

			history := resumed.History()
			require.Len(t, history, 3)
			for i, m := range history {
				assert.Equal(t, i+1, m.Epoch)
				assert.Equal(t, float32(whole.History()[i].TrainLoss), float32(m.TrainLoss),
					"epoch %d train loss", i+1)
				assert.Equal(t, 16, m.TestImages, "epoch %d test images", i+1)
			}
		})
	}
}

// TestTrainLoopResumesInsideAnEpoch stops a run after a checkpoint written inside an epoch
// and checks that resuming from it ends with the weights of an uninterrupted run.
func TestTrainLoopResumesInsideAnEpoch(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains for 19 steps, half a minute under -race")
	}
	cfg := smallestLoopConfig()
	set := randomSet(21, 9) // 4 steps per epoch
	dir := t.TempDir()
	be, err := cpu.New(2)
	require.NoError(t, err)
	whole, err := NewTrainLoop(be, cfg, set)
	require.NoError(t, err)
	require.NoError(t, whole.Run(context.Background(), RunOptions{}))
	want := trainState(t, whole)

	path := filepath.Join(dir, "inside.safetensors")
	be, err = cpu.New(2)
	require.NoError(t, err)
	l, err := NewTrainLoop(be, cfg, set)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = l.Run(ctx, RunOptions{Checkpoint: path, CheckpointInterval: time.Nanosecond,
		OnStep: func(p StepProgress) {
			if p.Epoch == 2 && p.Step == 3 {
				cancel()
			}
		}})
	require.ErrorIs(t, err, context.Canceled)
	assert.True(t, l.Saved())
	info, err := ReadCheckpointInfo(path)
	require.NoError(t, err)
	assert.Equal(t, CheckpointInfo{Config: cfg, Epoch: 1, Step: 3, TrainImages: 9}, info)

	be, err = cpu.New(2)
	require.NoError(t, err)
	resumed, err := ResumeTrainLoop(be, path, cfg, set)
	require.NoError(t, err)
	assert.Equal(t, 3, resumed.Step())
	var steps []int
	require.NoError(t, resumed.Run(context.Background(), RunOptions{Checkpoint: path,
		CheckpointInterval: time.Nanosecond,
		OnStep:             func(p StepProgress) { steps = append(steps, p.Step) }}))
	assert.Equal(t, []int{4, 1, 2, 3, 4}, steps)
	requireBitIdentical(t, want, trainState(t, resumed))
	for i, m := range resumed.History() {
		// The history of completed epochs is stored in float32.
		assert.Equal(t, float32(whole.History()[i].TrainLoss), float32(m.TrainLoss),
			"epoch %d", i+1)
		assert.Equal(t, float32(whole.History()[i].TrainTop1), float32(m.TrainTop1),
			"epoch %d", i+1)
		assert.Greater(t, m.Seconds, 0.0, "epoch %d", i+1)
	}
	info, err = ReadCheckpointInfo(path)
	require.NoError(t, err)
	assert.Equal(t, CheckpointInfo{Config: cfg, Epoch: 3, TrainImages: 9}, info)
}

func TestTrainLoopMetrics(t *testing.T) {
	cfg := smallestLoopConfig()
	cfg.Epochs, cfg.WarmupEpochs = 1, 0
	be, err := cpu.New(2)
	require.NoError(t, err)
	l, err := NewTrainLoop(be, cfg, randomSet(14, 5))
	require.NoError(t, err)
	var steps []StepProgress
	var epochs []EpochMetrics
	err = l.Run(context.Background(), RunOptions{Test: randomSet(15, 3), EvalBatchSize: 2,
		OnStep:  func(p StepProgress) { steps = append(steps, p) },
		OnEpoch: func(m EpochMetrics) error { epochs = append(epochs, m); return nil }})
	require.NoError(t, err)
	require.Len(t, steps, 2)
	assert.Equal(t, StepProgress{Epoch: 1, Step: 2, Steps: 2, Loss: steps[1].Loss,
		Top1: steps[1].Top1, LR: steps[1].LR}, steps[1])
	assert.Equal(t, cfg.LR, steps[0].LR, "first step without warm-up")
	require.Len(t, epochs, 1)
	m := epochs[0]
	assert.Equal(t, 1, m.Epoch)
	assert.Equal(t, steps[1].LR, m.LR)
	assert.InDelta(t, steps[1].Loss, m.TrainLoss, 1e-12)
	assert.Equal(t, 3, m.TestImages)
	assert.Greater(t, m.TestLoss, 0.0)
	assert.Greater(t, m.ImagesPerSecond, 0.0)

	_, err = l.RunEpoch(context.Background(), RunOptions{})
	assert.ErrorContains(t, err, "all 1 epochs are done")
}

func TestNewTrainLoopRejectsBadConfig(t *testing.T) {
	be, err := cpu.New(1)
	require.NoError(t, err)
	set := randomSet(16, 2)
	for _, c := range []struct {
		name   string
		change func(*LoopConfig)
		want   string
	}{
		{"odd width", func(c *LoopConfig) { c.Width = 5 }, "width"},
		{"no epochs", func(c *LoopConfig) { c.Epochs = 0 }, "epochs"},
		{"long warm-up", func(c *LoopConfig) { c.WarmupEpochs = 4 }, "warm-up"},
		{"zero lr", func(c *LoopConfig) { c.LR = 0 }, "learning rate"},
		{"batch above set", func(c *LoopConfig) { c.Train.BatchSize = 4 }, "fewer than"},
		{"smoothing 1", func(c *LoopConfig) { c.Train.LabelSmoothing = 1 }, "smoothing"},
		{"negative clip", func(c *LoopConfig) { c.Train.GradClipNorm = -1 }, "clipping norm"},
		{"infinite lr", func(c *LoopConfig) { c.LR = math.Inf(1) }, "positive finite"},
		{"NaN momentum", func(c *LoopConfig) { c.Train.Momentum = float32(math.NaN()) },
			"momentum"},
		{"NaN weight decay", func(c *LoopConfig) {
			c.Train.WeightDecay = float32(math.NaN())
		}, "weight decay"},
		{"NaN smoothing", func(c *LoopConfig) {
			c.Train.LabelSmoothing = float32(math.NaN())
		}, "smoothing"},
		{"negative cutout", func(c *LoopConfig) { c.Cutout = -1 },
			"cutout must be from 0 to 32 pixels, got -1"},
		{"cutout above image", func(c *LoopConfig) { c.Cutout = 33 },
			"cutout must be from 0 to 32 pixels, got 33"},
	} {
		cfg := smallestLoopConfig()
		c.change(&cfg)
		_, err := NewTrainLoop(be, cfg, set)
		assert.ErrorContains(t, err, c.want, c.name)
	}
}

// writeTinyCheckpoint trains one epoch of cfg on set and returns its checkpoint.
func writeTinyCheckpoint(t *testing.T, cfg LoopConfig, set *cifar10.Set) string {
	t.Helper()
	be, err := cpu.New(2)
	require.NoError(t, err)
	l, err := NewTrainLoop(be, cfg, set)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "run.safetensors")
	_, err = l.RunEpoch(context.Background(), RunOptions{Checkpoint: path})
	require.NoError(t, err)
	return path
}

func TestResumeTrainLoopRejectsMismatch(t *testing.T) {
	cfg := smallestLoopConfig()
	set := randomSet(17, 2)
	path := writeTinyCheckpoint(t, cfg, set)
	be, err := cpu.New(1)
	require.NoError(t, err)

	other := cfg
	other.Width = 6
	_, err = ResumeTrainLoop(be, path, other, set)
	require.ErrorIs(t, err, ErrConfigMismatch)
	assert.ErrorContains(t, err, path)
	assert.ErrorContains(t, err, "width 2, this run has 6")

	other = cfg
	other.LR = 0.1
	_, err = ResumeTrainLoop(be, path, other, set)
	assert.ErrorContains(t, err, "lr 0.05, this run has 0.1")

	other = cfg
	other.Train.Optimizer = Adam
	_, err = ResumeTrainLoop(be, path, other, set)
	assert.ErrorContains(t, err, "optimizer sgd, this run has adam")

	_, err = ResumeTrainLoop(be, path, cfg, randomSet(17, 4))
	assert.ErrorContains(t, err, "train_images 2, this run has 4")

	// The checkpoint has no gradient clipping, which it stores by leaving the field out.
	other = cfg
	other.Train.GradClipNorm = 1
	_, err = ResumeTrainLoop(be, path, other, set)
	assert.ErrorContains(t, err, "grad_clip_norm 0, this run has 1")
}

func TestCheckpointStoresGradClipNorm(t *testing.T) {
	cfg := smallestLoopConfig()
	cfg.Train.GradClipNorm = 2.5
	set := randomSet(18, 2)
	path := writeTinyCheckpoint(t, cfg, set)
	info, err := ReadCheckpointInfo(path)
	require.NoError(t, err)
	assert.Equal(t, float32(2.5), info.Config.Train.GradClipNorm)

	be, err := cpu.New(1)
	require.NoError(t, err)
	_, err = ResumeTrainLoop(be, path, cfg, set)
	require.NoError(t, err)
	other := cfg
	other.Train.GradClipNorm = 0
	_, err = ResumeTrainLoop(be, path, other, set)
	assert.ErrorContains(t, err, "grad_clip_norm 2.5, this run has 0")
}

func TestResumeTrainLoopRejectsDamagedFile(t *testing.T) {
	cfg := smallestLoopConfig()
	set := randomSet(18, 2)
	path := writeTinyCheckpoint(t, cfg, set)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	be, err := cpu.New(1)
	require.NoError(t, err)
	dir := t.TempDir()

	flipped := append([]byte(nil), data...)
	flipped[len(flipped)-100] ^= 0x40 // a bit of some tensor's data
	flippedPath := filepath.Join(dir, "flipped.safetensors")
	require.NoError(t, os.WriteFile(flippedPath, flipped, 0o644))
	_, err = ResumeTrainLoop(be, flippedPath, cfg, set)
	assert.ErrorContains(t, err, flippedPath+": checksum mismatch")

	truncatedPath := filepath.Join(dir, "truncated.safetensors")
	require.NoError(t, os.WriteFile(truncatedPath, data[:len(data)/2], 0o644))
	_, err = ResumeTrainLoop(be, truncatedPath, cfg, set)
	assert.ErrorContains(t, err, truncatedPath)
	assert.ErrorIs(t, err, nn.ErrSafetensors)

	net, err := New(cfg.Width, 1)
	require.NoError(t, err)
	weightsPath := filepath.Join(dir, "weights.safetensors")
	require.NoError(t, SaveCheckpoint(net, weightsPath))
	_, err = ResumeTrainLoop(be, weightsPath, cfg, set)
	assert.ErrorContains(t, err, weightsPath+": not a training checkpoint")

	_, err = ResumeTrainLoop(be, filepath.Join(dir, "missing.safetensors"), cfg, set)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestTrainLoopLearnsCIFAR10 trains the width-8 network for 30 steps on the first 8 real
// training images, one batch per epoch, cropped and flipped anew each time. The mean loss of
// the last 5 steps must fall well below that of the first 4.
func TestTrainLoopLearnsCIFAR10(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains for about 5 s")
	}
	// The first batch file is enough, and it is read without unpacking the others.
	batch1, err := cifar10.Load(datatest.CIFAR10Archive(t), cifar10.TrainFiles[:1])
	require.NoError(t, err)
	set := &cifar10.Set{Images: batch1.Images[:8*cifar10.ImageBytes], Labels: batch1.Labels[:8]}
	cfg := LoopConfig{Width: 8, Epochs: 30, LR: 0.2, Seed: 1, Train: TrainConfig{
		BatchSize: 8, Optimizer: SGD, Momentum: 0.9}}
	be, err := cpu.New(0)
	require.NoError(t, err)
	l, err := NewTrainLoop(be, cfg, set)
	require.NoError(t, err)
	require.NoError(t, l.Run(context.Background(), RunOptions{}))
	history := l.History()
	require.Len(t, history, 30)
	meanLoss := func(epochs []EpochMetrics) float64 {
		var s float64
		for _, m := range epochs {
			s += m.TrainLoss
		}
		return s / float64(len(epochs))
	}
	first, last := meanLoss(history[:4]), meanLoss(history[25:])
	t.Logf("mean loss of steps 1-4: %.3f, of steps 26-30: %.3f", first, last)
	assert.Less(t, last, 0.8*first)
}

func TestRunAfterInterruptionFails(t *testing.T) {
	cfg := smallestLoopConfig()
	be, err := cpu.New(1)
	require.NoError(t, err)
	l, err := NewTrainLoop(be, cfg, randomSet(19, 2))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = l.RunEpoch(ctx, RunOptions{})
	require.True(t, errors.Is(err, context.Canceled), "error %v", err)
	_, err = l.RunEpoch(context.Background(), RunOptions{})
	assert.ErrorContains(t, err, "resume from the checkpoint")
	assert.ErrorContains(t, l.SaveCheckpoint(filepath.Join(t.TempDir(), "x.safetensors")),
		"not written")
}

// TestLoadCheckpointReadsTrainingCheckpoint checks that eval's loader takes the weights of a
// full training checkpoint and skips its loop and optimizer state.
func TestLoadCheckpointReadsTrainingCheckpoint(t *testing.T) {
	for _, opt := range []Optimizer{SGD, Adam} {
		cfg := smallestLoopConfig()
		cfg.Epochs, cfg.WarmupEpochs = 1, 0
		cfg.Train.Optimizer = opt
		cfg.Train.Beta1, cfg.Train.Beta2, cfg.Train.Eps = 0.9, 0.999, 1e-8
		be, err := cpu.New(1)
		require.NoError(t, err)
		l, err := NewTrainLoop(be, cfg, randomSet(14, 5))
		require.NoError(t, err)
		_, err = l.RunEpoch(context.Background(), RunOptions{})
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "loop.safetensors")
		require.NoError(t, l.SaveCheckpoint(path))
		net, err := LoadCheckpoint(path, 0)
		require.NoError(t, err, "optimizer %d", opt)
		assert.Equal(t, l.Network().Conv1.Weight.Float32s(), net.Conv1.Weight.Float32s())
	}
}

// TestTrainLoopCutoutResumeIsBitIdentical resumes a run with cutout from a checkpoint written
// inside an epoch and from one written between epochs. Both must end with the weights of an
// uninterrupted run, which differ from those of the same run without cutout.
func TestTrainLoopCutoutResumeIsBitIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains for 26 steps, about half a minute under -race")
	}
	cfg := smallestLoopConfig()
	cfg.Epochs, cfg.Cutout = 2, 8
	set := randomSet(41, 7) // 3 steps per epoch
	dir := t.TempDir()
	train := func(cfg LoopConfig) map[string]*tensor.Tensor {
		be, err := cpu.New(2)
		require.NoError(t, err)
		l, err := NewTrainLoop(be, cfg, set)
		require.NoError(t, err)
		require.NoError(t, l.Run(context.Background(), RunOptions{}))
		return trainState(t, l)
	}
	want := train(cfg)
	plain := cfg
	plain.Cutout = 0
	without := train(plain)
	changed := 0
	for name, w := range want {
		if !slices.Equal(w.Float32s(), without[name].Float32s()) {
			changed++
		}
	}
	assert.Positive(t, changed, "tensors that cutout changes")

	for _, c := range []struct {
		name     string
		interval time.Duration
		epoch    int // completed epochs in the checkpoint
		step     int // steps of the next epoch in the checkpoint
	}{
		{"inside an epoch", time.Nanosecond, 1, 2},
		{"between epochs", 0, 1, 0},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".safetensors")
		be, err := cpu.New(2)
		require.NoError(t, err)
		l, err := NewTrainLoop(be, cfg, set)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		err = l.Run(ctx, RunOptions{Checkpoint: path, CheckpointInterval: c.interval,
			OnStep: func(p StepProgress) {
				if p.Epoch == 2 && p.Step == 2 {
					cancel()
				}
			}})
		cancel()
		require.ErrorIs(t, err, context.Canceled, c.name)
		info, err := ReadCheckpointInfo(path)
		require.NoError(t, err, c.name)
		assert.Equal(t, CheckpointInfo{Config: cfg, Epoch: c.epoch, Step: c.step,
			TrainImages: 7}, info, c.name)

		be, err = cpu.New(2)
		require.NoError(t, err)
		resumed, err := ResumeTrainLoop(be, path, cfg, set)
		require.NoError(t, err, c.name)
		require.NoError(t, resumed.Run(context.Background(), RunOptions{Checkpoint: path}))
		requireBitIdentical(t, want, trainState(t, resumed))
	}
}

// rewriteCheckpoint writes the tensors of a training checkpoint to a new file, with a new
// checksum, as an older version of SaveCheckpoint would have written them.
func rewriteCheckpoint(t *testing.T, tensors map[string]*tensor.Tensor) string {
	t.Helper()
	delete(tensors, "train.checksum")
	sum := checkpointChecksum(tensors)
	names := slices.Sorted(maps.Keys(tensors))
	named := make([]nn.NamedTensor, 0, len(names)+1)
	for _, name := range names {
		named = append(named, nn.NamedTensor{Name: name, Tensor: tensors[name]})
	}
	named = append(named, nn.NamedTensor{Name: "train.checksum", Tensor: uint64Tensor(sum)})
	path := filepath.Join(t.TempDir(), "rewritten.safetensors")
	require.NoError(t, nn.WriteSafetensorsFile(path, named))
	return path
}

// TestCheckpointWithoutCutoutReadsZero checks that checkpoints written before the cutout
// field existed, which lack train.cutout, read and resume as runs without cutout.
func TestCheckpointWithoutCutoutReadsZero(t *testing.T) {
	cfg := smallestLoopConfig()
	set := randomSet(42, 2)
	be, err := cpu.New(1)
	require.NoError(t, err)

	plain, err := nn.ReadSafetensorsFile(writeTinyCheckpoint(t, cfg, set))
	require.NoError(t, err)
	assert.NotContains(t, plain, "train.cutout", "a run without cutout stores no cutout")

	withCutout := cfg
	withCutout.Cutout = 5
	path := writeTinyCheckpoint(t, withCutout, set)
	info, err := ReadCheckpointInfo(path)
	require.NoError(t, err)
	assert.Equal(t, 5, info.Config.Cutout)
	_, err = ResumeTrainLoop(be, path, cfg, set)
	require.ErrorIs(t, err, ErrConfigMismatch)
	assert.ErrorContains(t, err, path+": checkpoint was written by a different run: it has "+
		"cutout 5, this run has 0")

	tensors, err := nn.ReadSafetensorsFile(path)
	require.NoError(t, err)
	stored, ok := tensors["train.cutout"]
	require.True(t, ok, "train.cutout is missing")
	value, err := tensorUint64(stored)
	require.NoError(t, err)
	assert.Equal(t, uint64(5), value)
	delete(tensors, "train.cutout")
	old := rewriteCheckpoint(t, tensors)

	info, err = ReadCheckpointInfo(old)
	require.NoError(t, err)
	assert.Equal(t, 0, info.Config.Cutout)
	assert.Equal(t, CheckpointInfo{Config: cfg, Epoch: 1, TrainImages: 2}, info)
	resumed, err := ResumeTrainLoop(be, old, cfg, set)
	require.NoError(t, err)
	assert.Equal(t, 1, resumed.Epoch())
	_, err = ResumeTrainLoop(be, old, withCutout, set)
	require.ErrorIs(t, err, ErrConfigMismatch)
	assert.ErrorContains(t, err, "it has cutout 0, this run has 5")
}
