package nasbench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/internal/datatest"
)

func loadRecords(t testing.TB, name string) []Record {
	t.Helper()
	records, err := LoadRecords(datatest.NASBench101File(t, name))
	require.NoError(t, err)
	return records
}

func TestRecordsHashMatchesKey(t *testing.T) {
	records := loadRecords(t, "data-1k.json")
	require.Len(t, records, 1000)
	for i, r := range records {
		require.NotNil(t, r.Spec, "record %d", i)
		assert.Equal(t, r.Hash, r.Spec.Hash(), "record %d: %v", i, r.Spec)
	}
}

func TestRecordsParamsMatchCost(t *testing.T) {
	records := loadRecords(t, "data-1k.json")
	for i, r := range records {
		cost, err := DefaultNetwork.Cost(*r.Spec)
		require.NoError(t, err)
		assert.Equal(t, r.TrainableParameters, cost.Total.Params, "record %d %s: %v", i,
			r.Hash, r.Spec)
	}
}

func TestRecordsHashOnlyFile(t *testing.T) {
	records := loadRecords(t, "data-20k.json")
	require.Len(t, records, 20001)
	assert.Nil(t, records[0].Spec)
	assert.Equal(t, testVector.hash, records[0].Hash)
	assert.Equal(t, int64(8555530), records[0].TrainableParameters)
	assert.InDelta(t, 0.93049, records[0].ValidationAccuracy[3], 1e-5)
}

func TestParseRecordsErrors(t *testing.T) {
	const columns = `"4_final_validation_accuracy": [0.1], "12_final_validation_accuracy": [0.2],
		"36_final_validation_accuracy": [0.3], "108_final_validation_accuracy": [0.4],
		"final_training_time": [10.5]`
	const hash = `"00005c142e6f48ac74fdcf73e3439874"`
	cases := []struct {
		name, text, want string
	}{
		{"not an object", `[]`, "expected a JSON object of lists"},
		{"missing key", `{` + columns + `, "trainable_parameters": [1]}`, "key: missing"},
		{"lengths differ", `{"key": [` + hash + `, ` + hash + `], ` + columns +
			`, "trainable_parameters": [1, 2]}`, "108_final_validation_accuracy: has 1 entries"},
		{"wrong type", `{"key": [` + hash + `], ` + columns +
			`, "trainable_parameters": ["x"]}`, "trainable_parameters: expected a list"},
		{"bad hash", `{"key": ["xyz"], ` + columns + `, "trainable_parameters": [1]}`,
			"key[0]: hash"},
		{"adjacency alone", `{"key": [` + hash + `], ` + columns +
			`, "trainable_parameters": [1], "adjacency": [[[0, 1], [0, 0]]]}`,
			"operations: missing"},
		{"disconnected cell", `{"key": [` + hash + `], ` + columns +
			`, "trainable_parameters": [1], "adjacency": [[[0, 0], [0, 0]]],
			"operations": [[-1, -2]]}`, "operations[0]): matrix: no path"},
		{"bad op code", `{"key": [` + hash + `], ` + columns +
			`, "trainable_parameters": [1], "adjacency": [[[0, 1], [0, 0]]],
			"operations": [[-1, 5]]}`, "op code 5"},
		{"key of another cell", `{"key": [` + hash + `], ` + columns +
			`, "trainable_parameters": [1], "adjacency": [[[0, 1], [0, 0]]],
			"operations": [[-1, -2]]}`, "key[0]: 00005c142e6f48ac74fdcf73e3439874 is not " +
			"the hash of cell 0, which is "},
		{"repeated key", `{"key": [` + hash + `, ` + hash + `], ` +
			strings.ReplaceAll(columns, "]", ", 0.5]") + `, "trainable_parameters": [1, 1]}`,
			"key[1]: 00005c142e6f48ac74fdcf73e3439874 repeats key[0]"},
		{"accuracy above 1", `{"key": [` + hash + `], ` +
			strings.Replace(columns, "[0.4]", "[5]", 1) + `, "trainable_parameters": [1]}`,
			"108_final_validation_accuracy[0]: 5 is outside [0, 1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRecords([]byte(tc.text))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseRecordsPadding(t *testing.T) {
	text := `{"key": ["53cee42601ad14d661bb6878031d6acb"], "4_final_validation_accuracy": [0.1],
		"12_final_validation_accuracy": [0.2], "36_final_validation_accuracy": [0.3],
		"108_final_validation_accuracy": [0.4], "final_training_time": [10.5],
		"trainable_parameters": [1], "embedding": [[1, 2]],
		"adjacency": [[[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]],
		"operations": [[-1, 2, -2, -3]]}`
	records, err := ParseRecords([]byte(text))
	require.NoError(t, err)
	require.Len(t, records, 1)
	assert.Equal(t, []Op{OpInput, OpMaxPool3x3, OpOutput}, records[0].Spec.Ops())
	assert.Equal(t, [4]float64{0.1, 0.2, 0.3, 0.4}, records[0].ValidationAccuracy)
}

func TestLoadRecordsNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"key": [1]}`), 0o644))
	_, err := LoadRecords(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "broken.json: key:")
}
