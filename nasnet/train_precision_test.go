package nasnet

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/nn"
	"github.com/renasgo/renas/tensor"
)

// referenceStep is a Trainer of the width-8 reference network on the 16 images of its
// reference step.
type referenceStep struct {
	tr     *Trainer
	init   map[string]*tensor.Tensor
	input  *tensor.Tensor
	labels []uint8
}

// newReferenceStep returns the step of cfg on be. With roundWeights, the convolution and
// dense weights start rounded to binary16.
func newReferenceStep(t *testing.T, be backend.Backend, cfg TrainConfig,
	roundWeights bool) *referenceStep {
	t.Helper()
	init, err := nn.ReadSafetensorsFile(filepath.Join("..", "nn", "testdata",
		"train_ref_w8_init.safetensors"))
	require.NoError(t, err)
	if roundWeights {
		for _, w := range init {
			if len(w.Shape()) < 2 {
				continue
			}
			for i, v := range w.Float32s() {
				w.Float32s()[i] = tensor.Float16ToFloat32(tensor.Float32ToFloat16(v))
			}
		}
	}
	ref, err := nn.ReadSafetensorsFile(filepath.Join("..", "nn", "testdata",
		"train_ref_w8_io.safetensors"))
	require.NoError(t, err)
	labels := make([]uint8, 16)
	for i, v := range ref["labels"].Float32s() {
		labels[i] = uint8(v)
	}
	net, err := New(8, 0)
	require.NoError(t, err)
	require.NoError(t, nn.LoadStrict(net.Params(), init, nil))
	cfg.BatchSize, cfg.Optimizer, cfg.Momentum = 16, SGD, 0.9
	tr, err := NewTrainer(be, net, cfg)
	require.NoError(t, err)
	return &referenceStep{tr: tr, init: init, input: ref["input"], labels: labels}
}

// step takes one step at learning rate 0.1 and returns its loss.
func (s *referenceStep) step(t *testing.T) float64 {
	t.Helper()
	loss, _, err := s.tr.Step(s.input, s.labels, 0.1)
	require.NoError(t, err)
	return loss
}

// moves returns init − weights for every parameter.
func (s *referenceStep) moves(t *testing.T) map[string][]float32 {
	t.Helper()
	require.NoError(t, s.tr.SyncToHost())
	out := map[string][]float32{}
	for _, p := range s.tr.params {
		before := s.init[p.name].Float32s()
		move := make([]float32, len(before))
		for i, v := range p.host.Float32s() {
			move[i] = before[i] - v
		}
		out[p.name] = move
	}
	return out
}

func newDirectBackend(t *testing.T, bf16 bool) *cpu.Backend {
	t.Helper()
	be, err := cpu.NewWithOptions(backend.Options{Threads: 2, DirectConv: !bf16, BF16: bf16})
	require.NoError(t, err)
	t.Cleanup(func() { be.Close() })
	return be
}

// TestFP16StepSkipsOverflow starts FP16 training with a loss scale of 2^24, which makes
// binary16 weight gradients overflow. Each such step must leave the weights and the step
// count alone and halve the scale, until a step fits and updates the weights.
func TestFP16StepSkipsOverflow(t *testing.T) {
	s := newReferenceStep(t, newDirectBackend(t, false),
		TrainConfig{Precision: FP16, LossScale: 1 << 24}, false)
	s.step(t)
	require.Equal(t, 1, s.tr.SkippedSteps(), "a scale of 2^24 overflows")
	assert.Equal(t, float64(1<<23), s.tr.LossScale())
	assert.Zero(t, s.tr.Steps())
	for name, move := range s.moves(t) {
		for i, v := range move {
			require.Zero(t, v, "%s[%d] moved in a skipped step", name, i)
		}
	}
	for range 24 {
		if s.tr.Steps() > 0 {
			break
		}
		s.step(t)
	}
	require.Equal(t, 1, s.tr.Steps(), "a step fits before the scale reaches 1")
	skipped := s.tr.SkippedSteps()
	assert.Equal(t, math.Ldexp(1, 24-skipped), s.tr.LossScale())
	moved := 0
	for _, move := range s.moves(t) {
		for _, v := range move {
			if v != 0 {
				moved++
			}
		}
	}
	assert.Positive(t, moved, "weights moved by the step that fitted")
}

// TestFP16LossScaleGrows checks that the scale doubles after every window of clean steps.
func TestFP16LossScaleGrows(t *testing.T) {
	s := newReferenceStep(t, newDirectBackend(t, false),
		TrainConfig{Precision: FP16, LossScale: 1, LossScaleWindow: 2}, false)
	want := []float64{1, 2, 2, 4, 4}
	for i, scale := range want {
		s.step(t)
		assert.Equal(t, scale, s.tr.LossScale(), "after step %d", i+1)
	}
	assert.Zero(t, s.tr.SkippedSteps())
}

// TestFP16StepMatchesFP32 takes the same first step in FP16 and in FP32 from weights rounded
// to binary16. The FP16 step rounds the weight gradients to binary16 too, so its moves
// differ from the FP32 ones by that rounding (a relative error of 2^-11 per value) and no
// more. Its loss is that of the rounded weights, and its master weights stay float32.
func TestFP16StepMatchesFP32(t *testing.T) {
	be := newDirectBackend(t, false)
	ref := newReferenceStep(t, be, TrainConfig{}, true)
	half := newReferenceStep(t, be, TrainConfig{Precision: FP16, LossScale: 1024}, false)
	refLoss, halfLoss := ref.step(t), half.step(t)
	require.Zero(t, half.tr.SkippedSteps())
	assert.InDelta(t, refLoss, halfLoss, 1e-6*refLoss, "loss")
	refMoves, halfMoves := ref.moves(t), half.moves(t)
	for name, want := range refMoves {
		assert.Less(t, relativeError(halfMoves[name], want), 1e-3, "move of %s", name)
	}
	notHalf := 0
	for _, p := range half.tr.params {
		for _, v := range p.host.Float32s() {
			if tensor.Float16ToFloat32(tensor.Float32ToFloat16(v)) != v {
				notHalf++
			}
		}
	}
	assert.Positive(t, notHalf, "master weights keep float32 precision")
}

// TestBF16StepMatchesFP32 takes the same first step on a bf16 backend and on a float32 one,
// and checks that BF16 needs the former. The loss and the move of the head's bias must agree
// within the bf16 rounding. The other moves are not compared. In this width-8 network on 16
// images, the 3 % rounding error of each bf16 Winograd convolution changed the head's weight
// gradient by 27 % and most deeper gradients by more than their size.
func TestBF16StepMatchesFP32(t *testing.T) {
	_, err := NewTrainer(newDirectBackend(t, false), must(New(8, 0)), TrainConfig{BatchSize: 2,
		Precision: BF16})
	require.ErrorContains(t, err, "precision bf16 needs a backend opened with bf16 kernels")
	if !kernels.HasBF16() {
		t.Skip("no bf16 kernels on this CPU or build; checked that BF16 needs them")
	}
	ref := newReferenceStep(t, newDirectBackend(t, false), TrainConfig{}, false)
	bf := newReferenceStep(t, newDirectBackend(t, true), TrainConfig{Precision: BF16}, false)
	refLoss, bfLoss := ref.step(t), bf.step(t)
	assert.InDelta(t, refLoss, bfLoss, 1e-2*refLoss, "loss")
	assert.NotEqual(t, refLoss, bfLoss, "bf16 products change the loss")
	refMoves, bfMoves := ref.moves(t), bf.moves(t)
	assert.Less(t, relativeError(bfMoves["linear.bias"], refMoves["linear.bias"]), 0.01,
		"move of linear.bias")
}

// TestCheckpointStoresPrecision writes an FP16 checkpoint and resumes it: the precision and
// the loss scale come back, and a run in another precision is rejected.
func TestCheckpointStoresPrecision(t *testing.T) {
	cfg := smallestLoopConfig()
	cfg.Train.Precision, cfg.Train.LossScale, cfg.Train.LossScaleWindow = FP16, 8, 3
	set := randomSet(19, 2)
	path := writeTinyCheckpoint(t, cfg, set)
	info, err := ReadCheckpointInfo(path)
	require.NoError(t, err)
	assert.Equal(t, cfg.Train, info.Config.Train)

	be, err := cpu.New(1)
	require.NoError(t, err)
	l, err := ResumeTrainLoop(be, path, cfg, set)
	require.NoError(t, err)
	// One epoch of one clean step: the scale is still 8, one step into its window.
	assert.Equal(t, 8.0, l.Trainer().LossScale())
	assert.Equal(t, 1, l.Trainer().scaler.clean)
	other := cfg
	other.Train.Precision = FP32
	_, err = ResumeTrainLoop(be, path, other, set)
	assert.ErrorContains(t, err, "precision fp16, this run has fp32")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
