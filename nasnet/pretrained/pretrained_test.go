package pretrained

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/internal/datatest"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/nasnet"
	"github.com/renasgo/renas/nasnet/cifar10"
	"github.com/renasgo/renas/nn"
)

func TestNetworkLoads(t *testing.T) {
	net, err := Network()
	require.NoError(t, err)
	assert.Equal(t, Model.Width, net.Width)
	assert.Equal(t, 1_115_338, nn.CountTrainable(net.Params()))
	assert.Equal(t, int64(497_222_272), net.MACs())
}

// TestTop1MatchesCard evaluates the embedded model on the first 1,000 test images, without
// and with flip averaging: each top-1 must lie within 3 points of the card's figure for all
// 10,000.
func TestTop1MatchesCard(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: evaluates 1,000 images")
	}
	set, err := cifar10.LoadTest(datatest.CIFAR10Archive(t))
	require.NoError(t, err)
	net, err := Network()
	require.NoError(t, err)
	be, err := cpu.New(0)
	require.NoError(t, err)
	defer be.Close()
	inf, err := nasnet.NewInference(be, net)
	require.NoError(t, err)
	opt := nasnet.EvalOptions{BatchSize: 100, Limit: 1000}
	res, err := nasnet.Evaluate(inf, set, opt)
	require.NoError(t, err)
	assert.Equal(t, 1000, res.Images)
	assert.LessOrEqual(t, math.Abs(res.Top1-Model.Top1), 0.03, "top-1 %.4f", res.Top1)

	opt.Flip = true
	flip, err := nasnet.Evaluate(inf, set, opt)
	require.NoError(t, err)
	assert.LessOrEqual(t, math.Abs(flip.Top1-Model.FlipTop1), 0.03, "flip top-1 %.4f",
		flip.Top1)
}

// TestPrecisionsMatchFP32 evaluates the embedded model on the first 1,000 test images in
// fp32, with its weights rounded to binary16, and with bf16 convolutions where the CPU has
// them. Binary16 weights may change 2 predictions and bf16 convolutions 5 (0.2 and 0.5
// points); the figures for all 10,000 images are in the README.
func TestPrecisionsMatchFP32(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: evaluates 1,000 images three times")
	}
	if kernels.Path() == "pure Go" {
		t.Skip("pure-Go kernels: three evaluations take minutes; the assembly build runs them")
	}
	set, err := cifar10.LoadTest(datatest.CIFAR10Archive(t))
	require.NoError(t, err)
	top1 := func(bf16, half bool) float64 {
		net, err := Network()
		require.NoError(t, err)
		if half {
			for _, p := range net.Params() {
				data := p.Value.Float32s()
				bits := make([]uint16, len(data))
				kernels.Float32ToFloat16s(bits, data)
				kernels.Float16ToFloat32s(data, bits)
			}
		}
		be, err := cpu.NewWithOptions(backend.Options{BF16: bf16})
		require.NoError(t, err)
		defer be.Close()
		inf, err := nasnet.NewInference(be, net)
		require.NoError(t, err)
		res, err := nasnet.Evaluate(inf, set, nasnet.EvalOptions{BatchSize: 100, Limit: 1000})
		require.NoError(t, err)
		return res.Top1
	}
	fp32 := top1(false, false)
	assert.InDelta(t, fp32, top1(false, true), 0.002, "binary16 weights")
	if !kernels.HasBF16() {
		t.Skip("no bf16 kernels on this CPU or build; checked binary16 weights only")
	}
	assert.InDelta(t, fp32, top1(true, false), 0.005, "bf16 convolutions")
}
