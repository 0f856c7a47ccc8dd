package nasnet

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/nn"
	"github.com/renasgo/renas/tensor"
)

// referenceConfig is the step that bench/make_train_ref.py takes in PyTorch.
var referenceConfig = TrainConfig{BatchSize: 16, Optimizer: SGD, Momentum: 0.9,
	WeightDecay: 5e-4, LabelSmoothing: 0.1}

// relativeError returns ‖got − want‖ / ‖want‖.
func relativeError(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		d := float64(got[i] - want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(num / math.Max(den, 1e-30))
}

// TestTrainStepMatchesPyTorch takes one SGD step of the width-8 network on 16 test images
// with direct convolutions and compares it with PyTorch 1.13 computed in float64. The loss
// and the running statistics of every layer must match tightly, and so must the gradients of
// the head and of the last cell. Earlier gradients are compared loosely (10 % relative L2
// error): a ReLU input within rounding of zero flips its mask in float32, and batch
// normalization spreads the change over the whole channel.
func TestTrainStepMatchesPyTorch(t *testing.T) {
	be, err := cpu.NewWithOptions(backend.Options{Threads: 2, DirectConv: true})
	require.NoError(t, err)
	testTrainStep(t, be, stepBounds{tight: 1e-3, loose: 0.1, norm: 0.1})
}

// TestTrainStepWinogradMatchesPyTorch is TestTrainStepMatchesPyTorch on the default backend,
// whose 3×3 convolutions use Winograd's transform. Its larger rounding error flips more ReLU
// masks, in the last cell too, so every gradient gets the loose bound. The gradients of the
// batch-normalization parameters, sums over a channel that cancel heavily, move most: up to
// 25 % on the pure-Go path.
func TestTrainStepWinogradMatchesPyTorch(t *testing.T) {
	be, err := cpu.New(2)
	require.NoError(t, err)
	testTrainStep(t, be, stepBounds{tight: 0.1, loose: 0.1, norm: 0.4})
}

// stepBounds bound the relative errors of the gradients in testTrainStep: tight for the head
// and the last cell, loose for the other weights and norm for the other batch-normalization
// parameters.
type stepBounds struct{ tight, loose, norm float64 }

// testTrainStep runs the reference step on be.
func testTrainStep(t *testing.T, be *cpu.Backend, bound stepBounds) {
	init, err := nn.ReadSafetensorsFile(filepath.Join("..", "nn", "testdata",
		"train_ref_w8_init.safetensors"))
	require.NoError(t, err)
	ref, err := nn.ReadSafetensorsFile(filepath.Join("..", "nn", "testdata",
		"train_ref_w8_io.safetensors"))
	require.NoError(t, err)
	net, err := New(8, 0)
	require.NoError(t, err)
	require.NoError(t, nn.LoadStrict(net.Params(), init, nil))

	tr, err := NewTrainer(be, net, referenceConfig)
	require.NoError(t, err)
	labels := make([]uint8, 16)
	for i, v := range ref["labels"].Float32s() {
		labels[i] = uint8(v)
	}
	loss, _, err := tr.Step(ref["input"], labels, 0.1)
	require.NoError(t, err)
	assert.InDelta(t, float64(ref["loss"].Float32s()[0]), loss, 1e-5, "loss")
	assert.Less(t, relativeError(tr.host.Float32s(), ref["logits"].Float32s()), 1e-4, "logits")

	for _, p := range tr.params {
		got := tensor.Zeros(p.host.Shape()...)
		require.NoError(t, be.Download(got, p.grad))
		e := relativeError(got.Float32s(), ref["grad."+p.name].Float32s())
		switch {
		case strings.HasPrefix(p.name, "linear.") || strings.HasPrefix(p.name, "block3.2."):
			assert.Less(t, e, bound.tight, "gradient of %s", p.name)
		case strings.HasSuffix(p.name, ".gamma") || strings.HasSuffix(p.name, ".beta"):
			assert.Less(t, e, bound.norm, "gradient of %s", p.name)
		default:
			assert.Less(t, e, bound.loose, "gradient of %s", p.name)
		}
	}
	require.NoError(t, tr.SyncToHost())
	for _, p := range net.Params() {
		want := ref["after."+p.Name].Float32s()
		e := relativeError(p.Value.Float32s(), want)
		switch {
		case !p.Trainable:
			assert.Less(t, e, 1e-5, "running statistic %s", p.Name)
		case strings.HasPrefix(p.Name, "linear."):
			assert.Less(t, e, 1e-5, "updated %s", p.Name)
		}
	}
}

// TestGradClipScalesStep takes the first SGD step of the reference network three times: with
// no clipping, with a clipping norm a quarter of the gradient norm, and with one twice as
// large. Clipping must scale every gradient by maxNorm/(norm + 1e-6) before the update, so the
// first step, which moves each weight by lr·g without weight decay, scales with it. A norm
// above the gradient's must change nothing.
func TestGradClipScalesStep(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: takes three training steps of the width-8 network")
	}
	be := newDirectBackend(t, false)
	type result struct {
		grads, moves map[string][]float32
		norm         float64 // of the gradients as the update used them
	}
	var init map[string]*tensor.Tensor
	step := func(clip float32) result {
		s := newReferenceStep(t, be, TrainConfig{GradClipNorm: clip}, false)
		init = s.init
		s.step(t)
		r := result{grads: map[string][]float32{}, moves: s.moves(t)}
		var sumSq float64
		for _, p := range s.tr.params {
			g := tensor.Zeros(p.host.Shape()...)
			require.NoError(t, be.Download(g, p.grad))
			r.grads[p.name] = g.Float32s()
			for _, v := range g.Float32s() {
				sumSq += float64(v) * float64(v)
			}
		}
		r.norm = math.Sqrt(sumSq)
		return r
	}

	free := step(0)
	require.Greater(t, free.norm, 0.0, "gradient norm")
	maxNorm := float32(free.norm / 4)
	clipped := step(maxNorm)
	coef := float64(maxNorm) / (free.norm + 1e-6)
	assert.InDelta(t, float64(maxNorm), clipped.norm, 1e-5*free.norm, "clipped norm")
	for name, g := range free.grads {
		want := make([]float32, len(g))
		for i, v := range g {
			want[i] = float32(coef * float64(v))
		}
		assert.Less(t, relativeError(clipped.grads[name], want), 1e-6,
			"clipped gradient of %s", name)
		for i, v := range free.moves[name] {
			// A move is the difference of two float32 weights, exact to about 1e-7 of them.
			tol := 1e-7*math.Abs(float64(init[name].Float32s()[i])) + 1e-3*math.Abs(coef*float64(v))
			assert.InDelta(t, coef*float64(v), float64(clipped.moves[name][i]), tol+1e-12,
				"move of %s[%d]", name, i)
		}
	}

	loose := step(float32(2 * free.norm))
	for name, move := range free.moves {
		assert.Equal(t, move, loose.moves[name], "move of %s under a norm above the gradient's",
			name)
	}
}
