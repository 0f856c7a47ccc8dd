package nasnet

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/internal/datatest"
	"github.com/renasgo/renas/nasnet/cifar10"
	"github.com/renasgo/renas/nn"
)

// The files in testdata come from bench/make_parity.py: a width-16 network in PyTorch 1.13
// with seeded random weights and batch-norm statistics, and its float64 logits for the first
// eight CIFAR-10 test images.
func loadParity(t *testing.T) (*Network, map[string][]float32) {
	t.Helper()
	net, err := LoadCheckpoint(filepath.Join("testdata", "parity_w16.safetensors"), 0)
	require.NoError(t, err)
	require.Equal(t, 16, net.Width)
	io, err := nn.ReadSafetensorsFile(filepath.Join("testdata", "parity_w16_io.safetensors"))
	require.NoError(t, err)
	vals := map[string][]float32{}
	for name, v := range io {
		vals[name] = v.ToFloat32().Float32s()
	}
	return net, vals
}

func TestParityWithPyTorch(t *testing.T) {
	net, io := loadParity(t)
	for _, threads := range []int{1, 2} {
		be, err := cpu.New(threads)
		require.NoError(t, err)
		inf, err := NewInference(be, net)
		require.NoError(t, err)
		for _, batch := range []int{8, 3} {
			maxDiff := 0.0
			for from := 0; from < 8; from += batch {
				to := min(from+batch, 8)
				x := io["input"][from*cifar10.ImageBytes : to*cifar10.ImageBytes]
				logits, err := inf.Forward(mustTensor(t, x, to-from, 3, 32, 32))
				require.NoError(t, err)
				want := io["logits"][from*NumClasses : to*NumClasses]
				for i, v := range logits.Float32s() {
					maxDiff = math.Max(maxDiff, math.Abs(float64(v-want[i])))
				}
			}
			t.Logf("threads %d, batch %d: max |Δlogit| = %.2e", threads, batch, maxDiff)
			assert.LessOrEqual(t, maxDiff, 1e-4, "threads %d, batch %d: max |Δlogit|",
				threads, batch)
		}
	}
}

// TestParityPreprocessing checks that the CIFAR-10 reader and normalization give the
// reference script's input tensor.
func TestParityPreprocessing(t *testing.T) {
	_, io := loadParity(t)
	set, err := cifar10.LoadTest(datatest.CIFAR10Archive(t))
	require.NoError(t, err)
	got := make([]float32, 8*cifar10.ImageBytes)
	set.Normalize(got, 0, 8)
	for i, v := range got {
		require.InDelta(t, io["input"][i], v, 1e-6, "element %d", i)
	}
	for i := range 8 {
		assert.Equal(t, float32(set.Labels[i]), io["labels"][i], "label %d", i)
	}
}
