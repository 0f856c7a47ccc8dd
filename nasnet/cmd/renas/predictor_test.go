package main

import (
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/internal/datatest"
	"github.com/renasgo/renas/nasnet/nasbench"
	"github.com/renasgo/renas/nasnet/predictor"
)

// trainTinyModel trains for 2 epochs on 40 records of data-1k.json, whose records carry
// their specs, so that no space cache is needed.
func trainTinyModel(t *testing.T) (model, data string) {
	t.Helper()
	data = datatest.NASBench101File(t, "data-1k.json")
	model = filepath.Join(t.TempDir(), "model.safetensors")
	out, err := runCommand(t, "train", "--data", data, "--train-size", "40", "--seed", "3",
		"--epochs", "2", "--out", model)
	require.NoError(t, err)
	assert.Contains(t, out, "on 40 cells for 2 epochs each in ")
	assert.Contains(t, out, "final train loss ")
	return model, data
}

func TestTrainAndRankCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains or scores the predictor for several seconds")
	}
	model, data := trainTinyModel(t)
	out, err := runCommand(t, "rank", "--model", model, "--data", data, "--json")
	require.NoError(t, err)
	var got struct {
		KendallTau *float64 `json:"kendall_tau"`
		N          int      `json:"n"`
		Excluded   int      `json:"excluded"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.NotNil(t, got.KendallTau)
	assert.Equal(t, 960, got.N)
	assert.Equal(t, 40, got.Excluded)
	assert.Greater(t, *got.KendallTau, 0.0)

	pngPath := filepath.Join(t.TempDir(), "rank.png")
	out, err = runCommand(t, "rank", "--model", model, "--data", data, "--include-train",
		"--plot", pngPath)
	require.NoError(t, err)
	assert.Contains(t, out, "n 1000\n")
	f, err := os.Open(pngPath)
	require.NoError(t, err)
	_, err = png.Decode(f)
	f.Close()
	require.NoError(t, err, "--plot writes a PNG")
	assert.Contains(t, out, "excluded 0 training records\n")
}

func TestTrainEnsembleOptions(t *testing.T) {
	data := datatest.NASBench101File(t, "data-1k.json")
	model := filepath.Join(t.TempDir(), "model.safetensors")
	out, err := runCommand(t, "train", "--data", data, "--train-size", "12", "--seed", "3",
		"--epochs", "2", "--members", "2", "--weight-decay", "1e-4", "--standardize", "entry",
		"--conv-init", "he", "--out", model)
	require.NoError(t, err)
	assert.Contains(t, out, "trained 2 members on 12 cells for 2 epochs each in ")
	e, err := predictor.LoadEnsemble(model)
	require.NoError(t, err)
	assert.Len(t, e.Members, 2)
	assert.Len(t, e.TrainHashes(), 12)
	assert.Equal(t, 1, e.Members[0].Orderings)
}

// trainOrderingsModel trains 2 members for 2 epochs on 12 records of data-1k.json with up to
// 3 vertex orderings of each cell.
func trainOrderingsModel(t *testing.T) (model, data string) {
	t.Helper()
	data = datatest.NASBench101File(t, "data-1k.json")
	model = filepath.Join(t.TempDir(), "model.safetensors")
	out, err := runCommand(t, "train", "--data", data, "--train-size", "12", "--seed", "3",
		"--epochs", "2", "--members", "2", "--orderings", "3", "--out", model)
	require.NoError(t, err)

	records, err := nasbench.LoadRecords(data)
	require.NoError(t, err)
	byHash := map[string]nasbench.Spec{}
	for _, r := range records {
		byHash[r.Hash] = *r.Spec
	}
	e, err := predictor.LoadEnsemble(model)
	require.NoError(t, err)
	var cells []nasbench.Spec
	for _, h := range e.TrainHashes() {
		cells = append(cells, byHash[h])
	}
	require.Len(t, cells, 12)
	examples, _ := predictor.ExpandOrderings(cells, 3)
	assert.Greater(t, len(examples), 12)
	assert.Contains(t, out, fmt.Sprintf("trained 2 members on 12 cells (%d examples, up to 3 "+
		"vertex orderings a cell) for 2 epochs each in ", len(examples)))
	return model, data
}

func TestTrainOrderingsStoredInModel(t *testing.T) {
	model, _ := trainOrderingsModel(t)
	e, sc, err := loadScorer(model, 1, 2)
	require.NoError(t, err)
	require.Len(t, e.Members, 2)
	for k, m := range e.Members {
		assert.Equal(t, 3, m.Orderings, "member %d", k+1)
	}

	// The scorer that rank and search load averages each member's score over the first 3
	// of the test vector's 4 orderings.
	testVector, err := nasbench.ReadSpecFile("testdata/testvector.json")
	require.NoError(t, err)
	orderings := testVector.Orderings(3)
	require.Len(t, orderings, 3)
	be, err := cpu.New(1)
	require.NoError(t, err)
	var want float64
	for k, m := range e.Members {
		single := *m
		single.Orderings = 1
		memberScorer, err := predictor.NewScorer(be, &single, 3)
		require.NoError(t, err)
		scores, err := memberScorer.Score(orderings)
		require.NoError(t, err)
		mean := (float64(scores[0]) + float64(scores[1]) + float64(scores[2])) / 3
		want += (mean - float64(e.ScoreMean[k])) / float64(e.ScoreStd[k]) / 2
	}
	got, err := sc.Score([]nasbench.Spec{testVector})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.InDelta(t, want, got[0], 1e-5)
}

func TestRankOrderingsModel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains or scores the predictor for several seconds")
	}
	model, data := trainOrderingsModel(t)
	out, err := runCommand(t, "rank", "--model", model, "--data", data, "--json")
	require.NoError(t, err)
	var got struct {
		KendallTau *float64 `json:"kendall_tau"`
		N          int      `json:"n"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.NotNil(t, got.KendallTau)
	assert.Equal(t, 988, got.N)
}

func TestSearchWithinData(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains or scores the predictor for several seconds")
	}
	model, data := trainTinyModel(t)
	best := filepath.Join(t.TempDir(), "best.json")
	out, err := runCommand(t, "search", "--model", model, "--data", data, "--within-data",
		"--top", "3", "--out", best)
	require.NoError(t, err)
	assert.Contains(t, out, "scored 960 cells in ")
	assert.Contains(t, out, "best known accuracy in the top 3: ")
	lines := strings.Split(out, "\n")
	require.Greater(t, len(lines), 5)
	assert.True(t, strings.HasPrefix(lines[2], "   1  "), "line %q", lines[2])

	spec, err := nasbench.ReadSpecFile(best)
	require.NoError(t, err)
	assert.Contains(t, lines[2], spec.Hash())
}

func TestSearchSpacePrefix(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains or scores the predictor for several seconds")
	}
	path, err := nasbench.DefaultCachePath()
	require.NoError(t, err)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no space cache at %s; run renas enumerate first", path)
	}
	model, _ := trainTinyModel(t)
	searchLimit = 300
	defer func() { searchLimit = 0 }()
	out, err := runCommand(t, "search", "--model", model, "--top", "2")
	require.NoError(t, err)
	assert.Contains(t, out, "scored 300 cells in ")
	assert.Equal(t, 4, strings.Count(out, "\n"), "output:\n%s", out)
}

func TestPredictorCommandErrors(t *testing.T) {
	data := datatest.NASBench101File(t, "data-1k.json")
	notModel := writeSpec(t, `{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]}`)
	raw, err := os.ReadFile(data)
	require.NoError(t, err)
	dataCopy := filepath.Join(t.TempDir(), "data.json")
	require.NoError(t, os.WriteFile(dataCopy, raw, 0o644))
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"train without data", []string{"train", "--out", "m"}, []string{"missing --data"}},
		{"train without out", []string{"train", "--data", data}, []string{"missing --out"}},
		{"train size too big", []string{"train", "--data", data, "--out", "m",
			"--train-size", "5000"}, []string{"invalid --train-size 5000", "1000 records"}},
		{"train bad epochs", []string{"train", "--data", data, "--out", "m", "--epochs",
			"0"}, []string{"invalid --epochs 0"}},
		{"train bad members", []string{"train", "--data", data, "--out", "m", "--members",
			"0"}, []string{"invalid --members 0"}},
		{"train too many members", []string{"train", "--data", data, "--out", "m",
			"--members", "1000000000"}, []string{"invalid --members 1000000000: must be " +
			"from 1 to 100"}},
		{"train zero orderings", []string{"train", "--data", data, "--out", "m",
			"--orderings", "0"}, []string{"invalid --orderings 0", "must be positive"}},
		{"train negative orderings", []string{"train", "--data", data, "--out", "m",
			"--orderings", "-3"}, []string{"invalid --orderings -3"}},
		{"train orderings not a number", []string{"train", "--data", data, "--out", "m",
			"--orderings", "all"}, []string{"-orderings", `"all"`}},
		{"train bad standardize", []string{"train", "--data", data, "--out", "m",
			"--standardize", "global"}, []string{"invalid --standardize", `"global"`}},
		{"train bad conv init", []string{"train", "--data", data, "--out", "m",
			"--conv-init", "xavier"}, []string{"invalid --conv-init", `"xavier"`}},
		{"train negative weight decay", []string{"train", "--data", data, "--out", "m",
			"--weight-decay", "-1"}, []string{"invalid --weight-decay -1"}},
		{"train missing data", []string{"train", "--data", "nope.json", "--out", "m"},
			[]string{"nope.json"}},
		{"train out on data", []string{"train", "--data", dataCopy, "--out", dataCopy},
			[]string{"--out " + dataCopy + " and --data " + dataCopy + " name the same file"}},
		{"train cache on data", []string{"train", "--data", dataCopy, "--out", "m",
			"--cache", dataCopy}, []string{"--cache " + dataCopy + " and --data"}},
		{"rank plot not png", []string{"rank", "--model", notModel, "--data", data, "--plot",
			"p.jpg"}, []string{"--plot p.jpg must end in .png"}},
		{"search out on model", []string{"search", "--model", notModel, "--out", notModel},
			[]string{"--out " + notModel + " and --model " + notModel}},
		{"search huge batch", []string{"search", "--model", notModel, "--batch",
			"99999999999"}, []string{"invalid --batch 99999999999: must be from 1 to 65536"}},
		{"rank without model", []string{"rank", "--data", data}, []string{"missing --model"}},
		{"rank bad model", []string{"rank", "--model", notModel, "--data", data},
			[]string{notModel}},
		{"rank extra argument", []string{"rank", "x"}, []string{`unexpected argument "x"`}},
		{"search bad top", []string{"search", "--model", notModel, "--top", "0"},
			[]string{"invalid --top 0"}},
		{"search within without data", []string{"search", "--model", notModel,
			"--within-data"}, []string{"--within-data needs --data"}},
		{"search bad batch", []string{"search", "--model", notModel, "--batch", "0"},
			[]string{"invalid --batch 0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCommand(t, tc.args...)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "\n")
			for _, want := range tc.want {
				assert.True(t, strings.Contains(err.Error(), want), "%q lacks %q", err, want)
			}
		})
	}
	dataAfter, err := os.ReadFile(dataCopy)
	require.NoError(t, err)
	assert.Equal(t, raw, dataAfter, "the record file is left as it was")
}
