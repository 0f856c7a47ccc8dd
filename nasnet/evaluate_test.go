package nasnet

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/nasnet/cifar10"
)

// TestEvaluateFlip checks that Evaluate with Flip scores each image by the mean softmax of
// the image and its mirror. The test mirrors the raw bytes itself, and its batch size leaves
// a partial last batch.
func TestEvaluateFlip(t *testing.T) {
	const n = 7
	r := rand.New(rand.NewPCG(11, 12))
	set := &cifar10.Set{Images: make([]byte, n*cifar10.ImageBytes), Labels: make([]uint8, n)}
	for i := range set.Images {
		set.Images[i] = byte(r.IntN(256))
	}
	for i := range set.Labels {
		set.Labels[i] = uint8(r.IntN(NumClasses))
	}
	mirror := &cifar10.Set{Images: make([]byte, len(set.Images)), Labels: set.Labels}
	for row := 0; row < len(set.Images); row += ImageSize {
		for x := range ImageSize {
			mirror.Images[row+x] = set.Images[row+ImageSize-1-x]
		}
	}
	net, err := New(8, 4)
	require.NoError(t, err)
	be, err := cpu.New(2)
	require.NoError(t, err)
	inf, err := NewInference(be, net)
	require.NoError(t, err)

	opt := EvalOptions{BatchSize: 3, KeepLogits: true}
	plain, err := Evaluate(inf, set, opt)
	require.NoError(t, err)
	mirrored, err := Evaluate(inf, mirror, opt)
	require.NoError(t, err)
	opt.Flip = true
	got, err := Evaluate(inf, set, opt)
	require.NoError(t, err)

	var top1 int
	var loss float64
	for i := range n {
		a := softmax64(plain.Logits[i*NumClasses : (i+1)*NumClasses])
		b := softmax64(mirrored.Logits[i*NumClasses : (i+1)*NumClasses])
		best := 0
		for c := range NumClasses {
			want := math.Log((a[c] + b[c]) / 2)
			assert.InDelta(t, want, got.Logits[i*NumClasses+c], 1e-5, "image %d class %d", i, c)
			if a[c]+b[c] > a[best]+b[best] {
				best = c
			}
		}
		if best == int(set.Labels[i]) {
			top1++
		}
		label := set.Labels[i]
		loss -= math.Log((a[label] + b[label]) / 2)
	}
	assert.InDelta(t, float64(top1)/n, got.Top1, 1e-12)
	assert.InDelta(t, loss/n, got.Loss, 1e-5)
	assert.NotEqual(t, plain.Logits, got.Logits)
}

func softmax64(row []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	out := make([]float64, len(row))
	var s float64
	for i, v := range row {
		out[i] = math.Exp(float64(v) - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

func TestLabelRankTies(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	row := []float32{0.5, 2, 2, -1, 0.5, 3, 0, 0, 0, nan}
	for _, c := range []struct {
		label, want int
	}{
		{5, 0}, {1, 1}, {2, 2}, {0, 3}, {4, 4}, {6, 5}, {8, 7}, {3, 8}, {9, NumClasses},
	} {
		assert.Equal(t, c.want, labelRank(row, c.label), "label %d", c.label)
	}
	same := []float32{inf, inf, inf, inf, inf, inf, inf, inf, inf, inf}
	assert.Equal(t, 0, labelRank(same, 0))
	assert.Equal(t, 9, labelRank(same, 9))
}
