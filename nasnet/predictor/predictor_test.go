package predictor

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/internal/datatest"
	"github.com/renasgo/renas/nasnet/nasbench"
)

// tinyConfig keeps the finite-difference and round-trip tests fast.
var tinyConfig = Config{Channels: [2]int{3, 4}, Hidden: [2]int{5, 3}}

func loadCells(t *testing.T, n int) ([]nasbench.Spec, []float64, []string) {
	t.Helper()
	records, err := nasbench.LoadRecords(datatest.NASBench101File(t, "data-1k.json"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(records), n)
	var cells []nasbench.Spec
	var y []float64
	var hashes []string
	for _, r := range records[:n] {
		require.NotNil(t, r.Spec, "record %s has no spec", r.Hash)
		cells = append(cells, *r.Spec)
		y = append(y, r.ValidationAccuracy[3])
		hashes = append(hashes, r.Hash)
	}
	return cells, y, hashes
}

func TestRankingLossValue(t *testing.T) {
	grad := make([]float32, 2)
	loss, err := RankingLoss([]float32{0, 0}, []float64{1, 0}, grad)
	require.NoError(t, err)
	assert.InDelta(t, math.Log(2), loss, 1e-12)
	// Both ordered pairs contribute −½·σ(0) to o_0, and the mean halves it again.
	assert.InDelta(t, -0.5, grad[0], 1e-7)
	assert.InDelta(t, 0.5, grad[1], 1e-7)
}

func TestRankingLossSkipsTies(t *testing.T) {
	grad := []float32{9, 9, 9}
	loss, err := RankingLoss([]float32{1, 2, 3}, []float64{0.5, 0.5, 0.5}, grad)
	require.NoError(t, err)
	assert.Equal(t, 0.0, loss)
	assert.Equal(t, []float32{0, 0, 0}, grad)
}

func TestRankingLossStableForLargeScores(t *testing.T) {
	grad := make([]float32, 2)
	loss, err := RankingLoss([]float32{-1e4, 1e4}, []float64{1, 0}, grad)
	require.NoError(t, err)
	assert.InDelta(t, 2e4, loss, 1e-6)
	assert.False(t, math.IsNaN(float64(grad[0])))
}

func TestRankingLossGradientFiniteDifference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 9
	o := make([]float32, n)
	y := make([]float64, n)
	for i := range n {
		o[i] = float32(rng.NormFloat64())
		y[i] = float64(rng.IntN(4)) // ties on purpose
	}
	grad := make([]float32, n)
	_, err := RankingLoss(o, y, grad)
	require.NoError(t, err)
	scratch := make([]float32, n)
	const h = 1e-2
	for i := range n {
		saved := o[i]
		o[i] = saved + h
		plus, err := RankingLoss(o, y, scratch)
		require.NoError(t, err)
		o[i] = saved - h
		minus, err := RankingLoss(o, y, scratch)
		require.NoError(t, err)
		o[i] = saved
		assert.InDelta(t, (plus-minus)/(2*h), grad[i], 1e-4, "score %d", i)
	}
}

func TestRankingLossRejectsLengthMismatch(t *testing.T) {
	_, err := RankingLoss([]float32{1, 2}, []float64{1}, make([]float32, 2))
	assert.ErrorContains(t, err, "2 scores, 1 targets")
}

// TestBackwardFiniteDifference compares the backend's gradients of the ranking loss with
// central differences for a few entries of every parameter, on a batch of 8 cells.
func TestBackwardFiniteDifference(t *testing.T) {
	cells, y, _ := loadCells(t, 8)
	be, err := cpu.New(1)
	require.NoError(t, err)
	m, err := NewModel(tinyConfig, 3)
	require.NoError(t, err)
	encodings := make([]nasbench.Encoding, len(cells))
	for i, s := range cells {
		encodings[i], err = nasbench.DefaultNetwork.Encode(s)
		require.NoError(t, err)
	}
	m.Standardizer, err = nasbench.FitStandardizer(encodings)
	require.NoError(t, err)
	x, err := m.Encode(cells)
	require.NoError(t, err)
	tr, err := NewTrainer(be, m, x)
	require.NoError(t, err)

	lossAt := func() float64 {
		scores, err := tr.Forward()
		require.NoError(t, err)
		loss, err := RankingLoss(scores, y, make([]float32, len(scores)))
		require.NoError(t, err)
		return loss
	}
	scores, err := tr.Forward()
	require.NoError(t, err)
	grad := make([]float32, len(scores))
	_, err = RankingLoss(scores, y, grad)
	require.NoError(t, err)
	require.NoError(t, tr.Backward(grad))

	names := []string{"conv1.weight", "bn1.gamma", "bn1.beta", "conv2.weight", "bn2.gamma",
		"bn2.beta", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight",
		"fc3.bias"}
	require.Len(t, tr.params, len(names))
	rng := rand.New(rand.NewPCG(4, 5))
	const h = 1e-2
	for k, p := range tr.params {
		analytic := p.host.Clone()
		require.NoError(t, be.Download(analytic, p.grad))
		values := p.host.Float32s()
		for range 3 {
			i := rng.IntN(len(values))
			saved := values[i]
			values[i] = saved + h
			require.NoError(t, be.Upload(p.value, p.host))
			plus := lossAt()
			values[i] = saved - h
			require.NoError(t, be.Upload(p.value, p.host))
			minus := lossAt()
			values[i] = saved
			require.NoError(t, be.Upload(p.value, p.host))
			numeric := (plus - minus) / (2 * h)
			got := float64(analytic.Float32s()[i])
			assert.InDelta(t, numeric, got, 2e-3+0.05*math.Abs(numeric), "%s[%d]", names[k], i)
		}
	}
}

func TestFitLowersLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains or scores the predictor for several seconds")
	}
	cells, y, hashes := loadCells(t, 64)
	be, err := cpu.New(0)
	require.NoError(t, err)
	var losses []float64
	cfg := FitConfig{Model: DefaultConfig, Epochs: 8, Adam: DefaultAdam, Seed: 1,
		Progress: func(_ int, loss float64) { losses = append(losses, loss) }}
	m, last, err := Fit(be, cells, y, hashes, cfg)
	require.NoError(t, err)
	require.Len(t, losses, 8)
	assert.Equal(t, losses[7], last)
	assert.Less(t, losses[7], losses[0], "losses %v", losses)
	assert.Equal(t, hashes, m.TrainHashes)

	// The inference scores, with running statistics, should order the training cells much
	// as the accuracies do after even a few epochs.
	sc, err := NewScorer(be, m, 16)
	require.NoError(t, err)
	scores, err := sc.Score(cells)
	require.NoError(t, err)
	tau, err := nasbench.KendallTau(float64s(scores), y)
	require.NoError(t, err)
	assert.Greater(t, tau, 0.2)
}

func TestFitIsDeterministic(t *testing.T) {
	cells, y, _ := loadCells(t, 12)
	be, err := cpu.New(2)
	require.NoError(t, err)
	cfg := FitConfig{Model: tinyConfig, Epochs: 3, Adam: DefaultAdam, Seed: 7}
	a, lossA, err := Fit(be, cells, y, nil, cfg)
	require.NoError(t, err)
	b, lossB, err := Fit(be, cells, y, nil, cfg)
	require.NoError(t, err)
	assert.Equal(t, lossA, lossB)
	for i, ta := range a.tensors() {
		assert.Equal(t, ta.t.Float32s(), b.tensors()[i].t.Float32s(), ta.name)
	}
}

func TestSaveLoadKeepsScores(t *testing.T) {
	cells, y, hashes := loadCells(t, 10)
	be, err := cpu.New(1)
	require.NoError(t, err)
	m, _, err := Fit(be, cells, y, hashes,
		FitConfig{Model: tinyConfig, Epochs: 2, Adam: DefaultAdam, Seed: 2})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "model.safetensors")
	require.NoError(t, m.Save(path))
	loaded, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, tinyConfig, loaded.Config)
	assert.Equal(t, hashes, loaded.TrainHashes)
	assert.Equal(t, *m.Standardizer, *loaded.Standardizer)

	// Batches of 4 leave a short last batch of 2 cells.
	want, err := mustScorer(t, m, 7).Score(cells)
	require.NoError(t, err)
	got, err := mustScorer(t, loaded, 4).Score(cells)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestLoadRejectsMissingTensor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	m, err := NewModel(tinyConfig, 1)
	require.NoError(t, err)
	_, err = Load(path)
	assert.Error(t, err)
	require.Error(t, m.Save(path), "a model without a standardizer must not save")
}

func TestNewModelRejectsZeroWidth(t *testing.T) {
	_, err := NewModel(Config{Channels: [2]int{0, 4}, Hidden: [2]int{5, 3}}, 1)
	assert.ErrorContains(t, err, "positive")
}

func mustScorer(t *testing.T, m *Model, batch int) *Scorer {
	t.Helper()
	be, err := cpu.New(1)
	require.NoError(t, err)
	sc, err := NewScorer(be, m, batch)
	require.NoError(t, err)
	return sc
}

func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
