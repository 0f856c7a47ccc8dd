package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(args, &stdout, &stderr)
	return stdout.String(), err
}

func writeSpec(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spec.json")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func TestHashCommand(t *testing.T) {
	out, err := runCommand(t, "hash", "testdata/testvector.json")
	require.NoError(t, err)
	assert.Contains(t, out, "hash 00005c142e6f48ac74fdcf73e3439874\n")
	assert.Contains(t, out, `"ops":["input","conv3x3-bn-relu","maxpool3x3"`)
}

func TestHashCommandPrunes(t *testing.T) {
	// Vertex 2 reaches nothing, so the pruned cell is input → conv → output.
	path := writeSpec(t, `{"matrix": [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]],
		"ops": ["input", "conv3x3-bn-relu", "maxpool3x3", "output"]}`)
	out, err := runCommand(t, "hash", path)
	require.NoError(t, err)
	assert.Contains(t, out, `spec {"matrix":[[0,1,0],[0,0,1],[0,0,0]],`+
		`"ops":["input","conv3x3-bn-relu","output"]}`)
}

func TestInfoCommandJSON(t *testing.T) {
	out, err := runCommand(t, "info", "testdata/testvector.json", "--json")
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, "00005c142e6f48ac74fdcf73e3439874", got["hash"])
	assert.Equal(t, 8555530.0, got["trainable_parameters"])
	assert.Equal(t, 2527684618.0, got["flops"])
}

func TestInfoCommandText(t *testing.T) {
	out, err := runCommand(t, "info", "testdata/testvector.json")
	require.NoError(t, err)
	assert.Contains(t, out, "trainable parameters  8,555,530\n")
	assert.Contains(t, out, "FLOPs                 2,527,684,618\n")
}

func TestCommandErrors(t *testing.T) {
	malformed := writeSpec(t, `{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"`)
	outside := writeSpec(t, `{"matrix": [[0, 0], [0, 0]], "ops": ["input", "output"]}`)
	badOp := writeSpec(t, `{"matrix": [[0, 1], [0, 0]], "ops": ["input", "conv5x5"]}`)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no command", nil, []string{"missing command"}},
		{"unknown command", []string{"fit"}, []string{`unknown command "fit"`}},
		{"no spec", []string{"hash"}, []string{"expected one spec file"}},
		{"missing file", []string{"info", "nope.json"}, []string{"nope.json"}},
		{"malformed", []string{"hash", malformed}, []string{malformed, "unexpected end"}},
		{"not in space", []string{"info", outside}, []string{outside, "matrix: no path"}},
		{"bad op", []string{"info", badOp}, []string{badOp, "ops: vertex 1"}},
		{"bad flag", []string{"info", "--jsn", "x.json"}, []string{"-jsn"}},
		{"extra argument", []string{"enumerate", "x"}, []string{`unexpected argument "x"`}},
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
}
