package predictor

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/nasnet/nasbench"
	"github.com/renasgo/renas/nn"
)

// testVectorHash is the first record of data-1k.json. Its interior vertices 1 → 2 → 3 → 5
// form a chain and vertex 4 needs only to precede 5, so the cell has 4 vertex orderings.
const testVectorHash = "00005c142e6f48ac74fdcf73e3439874"

func TestExpandOrderingsCounts(t *testing.T) {
	cells, _, hashes := loadCells(t, 1)
	require.Equal(t, testVectorHash, hashes[0])
	chain, err := nasbench.NewSpec([][]int{{0, 1, 0}, {0, 0, 1}, {0, 0, 0}},
		[]nasbench.Op{nasbench.OpInput, nasbench.OpConv3x3, nasbench.OpOutput})
	require.NoError(t, err)
	cells = append(cells, chain)
	all := cells[0].Orderings(0)
	require.Len(t, all, 4)

	for _, tc := range []struct {
		k     int
		owner []int
	}{
		{0, []int{0, 1}},
		{1, []int{0, 1}},
		{2, []int{0, 0, 1}},
		{3, []int{0, 0, 0, 1}},
		{4, []int{0, 0, 0, 0, 1}},
		{50, []int{0, 0, 0, 0, 1}},
	} {
		expanded, owner := ExpandOrderings(cells, tc.k)
		assert.Equal(t, tc.owner, owner, "k %d", tc.k)
		require.Len(t, expanded, len(tc.owner), "k %d", tc.k)
		n := len(expanded) - 1
		assert.Equal(t, all[:n], expanded[:n], "k %d", tc.k)
		assert.Equal(t, chain, expanded[n], "k %d", tc.k)
	}
	expanded, _ := ExpandOrderings(cells, 1)
	assert.Same(t, &cells[0], &expanded[0], "k 1 returns the cells themselves")
}

func TestExpandOrderingsKeepsZeroSpec(t *testing.T) {
	expanded, owner := ExpandOrderings([]nasbench.Spec{{}}, 3)
	assert.Equal(t, []nasbench.Spec{{}}, expanded)
	assert.Equal(t, []int{0}, owner)
}

// Two copies of one cell share the target 1 and the other cell has 0, so only the 4 ordered
// pairs between a copy and the other cell count.
func TestRankingLossSkipsCopies(t *testing.T) {
	grad := make([]float32, 3)
	loss, err := RankingLoss([]float32{0, 1, 0}, []float64{1, 1, 0}, grad)
	require.NoError(t, err)
	assert.InDelta(t, (2*math.Log(2)+2*softplus(-1))/4, loss, 1e-12)
	assert.InDelta(t, -2*sigmoid(0)/4, grad[0], 1e-7)
	assert.InDelta(t, -2*sigmoid(-1)/4, grad[1], 1e-7)
	assert.InDelta(t, (2*sigmoid(0)+2*sigmoid(-1))/4, grad[2], 1e-7)
}

// Fit with Orderings trains on exactly the batch that ExpandOrderings makes, each ordering
// with its cell's accuracy: the same weights and standardizer as Fit on that batch itself.
func TestFitOrderingsTrainsOnExpandedBatch(t *testing.T) {
	cells, y, hashes := loadCells(t, 10)
	expanded, owner := ExpandOrderings(cells, 3)
	// The first 10 records of data-1k.json have 4, 1, 1, 1, 1, 2, 1, 1, 3 and 7 orderings.
	require.Equal(t, []int{0, 0, 0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 8, 8, 9, 9, 9}, owner)
	expandedY := make([]float64, len(expanded))
	for i, c := range owner {
		expandedY[i] = y[c]
	}
	be, err := cpu.New(1)
	require.NoError(t, err)
	for _, mode := range []Standardization{PerChannel, PerEntry} {
		cfg := FitConfig{Model: tinyConfig, Epochs: 2, Adam: DefaultAdam, Seed: 4,
			Standardization: mode}
		want, wantLoss, err := Fit(be, expanded, expandedY, nil, cfg)
		require.NoError(t, err)
		cfg.Orderings = 3
		got, gotLoss, err := Fit(be, cells, y, hashes, cfg)
		require.NoError(t, err)
		assert.Equal(t, 3, got.Orderings, "%v", mode)
		assert.Equal(t, 1, want.Orderings, "%v", mode)
		assert.Equal(t, hashes, got.TrainHashes, "%v", mode)
		assert.Equal(t, wantLoss, gotLoss, "%v", mode)
		assert.Equal(t, *want.Standardizer, *got.Standardizer, "%v", mode)
		for i, nt := range want.tensors() {
			assert.Equal(t, nt.t.Float32s(), got.tensors()[i].t.Float32s(), "%v %s", mode,
				nt.name)
		}

		// The statistics come from the 17 orderings, not from the 10 cells.
		plain, _, err := Fit(be, cells, y, nil, FitConfig{Model: tinyConfig, Epochs: 1,
			Adam: DefaultAdam, Seed: 4, Standardization: mode})
		require.NoError(t, err)
		assert.NotEqual(t, *plain.Standardizer, *got.Standardizer, "%v", mode)
	}
}

func TestFitOrderingsZeroIsOne(t *testing.T) {
	cells, y, _ := loadCells(t, 6)
	be, err := cpu.New(1)
	require.NoError(t, err)
	cfg := FitConfig{Model: tinyConfig, Epochs: 2, Adam: DefaultAdam, Seed: 9}
	zero, _, err := Fit(be, cells, y, nil, cfg)
	require.NoError(t, err)
	cfg.Orderings = 1
	one, _, err := Fit(be, cells, y, nil, cfg)
	require.NoError(t, err)
	assert.Equal(t, 1, zero.Orderings)
	assert.Equal(t, 1, one.Orderings)
	for i, nt := range zero.tensors() {
		assert.Equal(t, nt.t.Float32s(), one.tensors()[i].t.Float32s(), nt.name)
	}
}

func TestFitRejectsBadOrderingsAndNaN(t *testing.T) {
	cells, y, _ := loadCells(t, 4)
	be, err := cpu.New(1)
	require.NoError(t, err)
	cfg := FitConfig{Model: tinyConfig, Epochs: 1, Adam: DefaultAdam, Orderings: -1}
	_, _, err = Fit(be, cells, y, nil, cfg)
	assert.ErrorContains(t, err, "orderings must be 0 or positive, got -1")
	cfg.Orderings = 2
	y[2] = math.NaN()
	_, _, err = Fit(be, cells, y, nil, cfg)
	assert.ErrorContains(t, err, "accuracy of training cell 2 is NaN")
}

// fitOrderingsModel trains a tiny model for 2 epochs on 10 cells with up to 4 orderings each,
// 19 examples in all.
func fitOrderingsModel(t *testing.T) (*Model, []nasbench.Spec) {
	t.Helper()
	cells, y, hashes := loadCells(t, 10)
	be, err := cpu.New(1)
	require.NoError(t, err)
	m, _, err := Fit(be, cells, y, hashes,
		FitConfig{Model: tinyConfig, Epochs: 2, Adam: DefaultAdam, Seed: 2, Orderings: 4})
	require.NoError(t, err)
	return m, cells
}

// orderingMeans scores every ordering of each cell on its own, with m read as a model of one
// ordering, and returns the mean per cell and the score of each cell as given.
func orderingMeans(t *testing.T, m *Model, cells []nasbench.Spec, k int) (means,
	first []float64) {
	t.Helper()
	single := *m
	single.Orderings = 1
	sc := mustScorer(t, &single, 5)
	for i, s := range cells {
		orderings := s.Orderings(k)
		scores, err := sc.Score(orderings)
		require.NoError(t, err, "cell %d", i)
		var sum float64
		for _, v := range scores {
			sum += float64(v)
		}
		means = append(means, sum/float64(len(scores)))
		first = append(first, float64(scores[0]))
	}
	return means, first
}

func TestScoreAveragesOrderings(t *testing.T) {
	m, cells := fitOrderingsModel(t)
	want, first := orderingMeans(t, m, cells, 4)
	// Batches of 3 split the 4 orderings of the first cell over two batches.
	got, err := mustScorer(t, m, 3).Score(cells)
	require.NoError(t, err)
	require.Len(t, got, len(cells))
	for i := range cells {
		assert.InDelta(t, want[i], got[i], 1e-6, "cell %d", i)
	}
	// The first cell has 4 orderings, whose mean is not the score of the cell as given. Cell
	// 9 has 7, of which the first 4 count.
	assert.NotEqual(t, float32(first[0]), got[0])
	assert.NotEqual(t, float32(first[9]), got[9])
}

func TestEnsembleScoreAveragesOrderings(t *testing.T) {
	e, cells, _ := fitTinyEnsemble(t, 2, 3)
	want := make([]float64, len(cells))
	for k, m := range e.Members {
		assert.Equal(t, 3, m.Orderings, "member %d", k+1)
		means, _ := orderingMeans(t, m, cells, 3)
		var sum, squares float64
		for _, v := range means {
			sum += v
		}
		mean := sum / float64(len(means))
		for _, v := range means {
			squares += (v - mean) * (v - mean)
		}
		std := math.Sqrt(squares / float64(len(means)))
		// The score statistics are those of the averaged training scores.
		assert.InDelta(t, mean, e.ScoreMean[k], 1e-5, "member %d", k+1)
		assert.InDelta(t, std, e.ScoreStd[k], 1e-5, "member %d", k+1)
		for i, v := range means {
			want[i] += (v - mean) / std / 2
		}
	}
	got, err := mustEnsembleScorer(t, e, 4).Score(cells)
	require.NoError(t, err)
	require.Len(t, got, len(cells))
	for i := range cells {
		assert.InDelta(t, want[i], got[i], 1e-4, "cell %d", i)
	}
}

func TestNewEnsembleScorerRejectsMixedOrderings(t *testing.T) {
	e, _, _ := fitTinyEnsemble(t, 3, 1)
	other := *e.Members[1]
	other.Orderings = 2
	bad := &Ensemble{Members: []*Model{e.Members[0], &other}, ScoreMean: e.ScoreMean[:2],
		ScoreStd: e.ScoreStd[:2]}
	be, err := cpu.New(1)
	require.NoError(t, err)
	_, err = NewEnsembleScorer(be, bad, 4)
	assert.ErrorContains(t, err, "member 2 scores 2 vertex orderings per cell, member 1 "+
		"scores 1")
}

func TestSaveLoadKeepsOrderings(t *testing.T) {
	m, cells := fitOrderingsModel(t)
	path := filepath.Join(t.TempDir(), "model.safetensors")
	require.NoError(t, m.Save(path))
	loaded, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, 4, loaded.Orderings)
	want, err := mustScorer(t, m, 7).Score(cells)
	require.NoError(t, err)
	got, err := mustScorer(t, loaded, 4).Score(cells)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	raw, err := nn.ReadSafetensorsRawFile(path)
	require.NoError(t, err)
	var stored []nn.RawTensor
	for _, r := range raw {
		if r.Name == orderingsName {
			stored = append(stored, r)
		}
	}
	require.Len(t, stored, 1)
	assert.Equal(t, "I32", stored[0].DType)
	assert.Empty(t, stored[0].Shape)
	assert.Equal(t, []byte{4, 0, 0, 0}, stored[0].Data)
}

func TestEnsembleSaveLoadKeepsOrderings(t *testing.T) {
	e, cells, _ := fitTinyEnsemble(t, 2, 3)
	path := filepath.Join(t.TempDir(), "ensemble.safetensors")
	require.NoError(t, e.Save(path))
	loaded, err := LoadEnsemble(path)
	require.NoError(t, err)
	require.Len(t, loaded.Members, 2)
	for k, m := range loaded.Members {
		assert.Equal(t, 3, m.Orderings, "member %d", k+1)
	}
	want, err := mustEnsembleScorer(t, e, 7).Score(cells)
	require.NoError(t, err)
	got, err := mustEnsembleScorer(t, loaded, 3).Score(cells)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// rewriteOrderings rewrites the model file at path with the orderings tensor replaced by
// the given one, or dropped when it is nil.
func rewriteOrderings(t *testing.T, path string, replacement *nn.RawTensor) string {
	t.Helper()
	raw, err := nn.ReadSafetensorsRawFile(path)
	require.NoError(t, err)
	var kept []nn.RawTensor
	for _, r := range raw {
		if r.Name != orderingsName {
			kept = append(kept, r)
		}
	}
	require.Len(t, kept, len(raw)-1)
	if replacement != nil {
		kept = append(kept, *replacement)
	}
	out := filepath.Join(t.TempDir(), "rewritten.safetensors")
	require.NoError(t, nn.WriteSafetensorsRawFile(out, kept))
	return out
}

func TestLoadWithoutOrderingsReadsOne(t *testing.T) {
	m, cells := fitOrderingsModel(t)
	path := filepath.Join(t.TempDir(), "model.safetensors")
	require.NoError(t, m.Save(path))
	old := rewriteOrderings(t, path, nil)
	loaded, err := Load(old)
	require.NoError(t, err)
	assert.Equal(t, 1, loaded.Orderings)
	e, err := LoadEnsemble(old)
	require.NoError(t, err)
	assert.Equal(t, 1, e.Members[0].Orderings)

	// With one ordering the scores are those of each cell as given.
	_, first := orderingMeans(t, m, cells, 1)
	got, err := mustScorer(t, loaded, 4).Score(cells)
	require.NoError(t, err)
	assert.Equal(t, float32s(first), got)
}

func TestLoadRejectsBadOrderings(t *testing.T) {
	m, _ := fitOrderingsModel(t)
	path := filepath.Join(t.TempDir(), "model.safetensors")
	require.NoError(t, m.Save(path))
	zero := binary.LittleEndian.AppendUint32(nil, 0)
	negative := binary.LittleEndian.AppendUint32(nil, math.MaxUint32)
	cases := map[string]struct {
		tensor nn.RawTensor
		want   string
	}{
		"zero":     {nn.RawTensor{Name: orderingsName, DType: "I32", Data: zero}, "is 0"},
		"negative": {nn.RawTensor{Name: orderingsName, DType: "I32", Data: negative}, "is -1"},
		"float": {nn.RawTensor{Name: orderingsName, DType: "F32", Data: zero},
			"want one I32 value"},
		"two values": {nn.RawTensor{Name: orderingsName, DType: "I32", Shape: []int{2},
			Data: append(zero, zero...)}, "want one I32 value"},
	}
	for name, tc := range cases {
		bad := rewriteOrderings(t, path, &tc.tensor)
		_, err := Load(bad)
		assert.ErrorContains(t, err, tc.want, name)
		assert.ErrorContains(t, err, `"orderings"`, name)
	}
}

func float32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
