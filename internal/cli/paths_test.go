package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckDistinctOutputs(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.safetensors")
	require.NoError(t, os.WriteFile(in, []byte("weights"), 0o644))
	hard := filepath.Join(dir, "hard.safetensors")
	require.NoError(t, os.Link(in, hard))
	soft := filepath.Join(dir, "soft.safetensors")
	require.NoError(t, os.Symlink(in, soft))
	log := filepath.Join(dir, "run.jsonl")
	relative := filepath.Join(dir, ".", "sub", "..", "run.jsonl")

	inputs := []FlagPath{{"--checkpoint", in}, {"--cell", ""}}
	ok := []FlagPath{{"--out", filepath.Join(dir, "out.safetensors")}, {"--log", log},
		{"--plot", ""}, {"--export", ""}}
	require.NoError(t, CheckDistinctOutputs(ok, inputs))
	require.NoError(t, CheckDistinctOutputs(nil, append(inputs, FlagPath{"--resume", in})),
		"two inputs may name one file")

	for _, tc := range []struct {
		name    string
		outputs []FlagPath
		want    string
	}{
		{"same input path", []FlagPath{{"--log", in}},
			"--log " + in + " and --checkpoint " + in + " name the same file: give --log"},
		{"hard link", []FlagPath{{"--save-logits", hard}}, "and --checkpoint " + in},
		{"symbolic link", []FlagPath{{"--plot", soft}}, "--plot " + soft + " and --checkpoint"},
		{"two outputs", []FlagPath{{"--log", log}, {"--plot", relative}},
			"--log " + log + " and --plot " + relative + " name the same file: give one of"},
	} {
		err := CheckDistinctOutputs(tc.outputs, inputs)
		require.Error(t, err, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
}
