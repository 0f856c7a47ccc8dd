package main

import (
	"bytes"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func TestCurvesDrawsRuns(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.jsonl", `{"epoch":1,"train_loss":2,"train_top1":0.2}
{"epoch":2,"train_loss":1.5,"train_top1":0.4,"test_loss":1.6,"test_top1":0.38,"test_images":10}
`)
	b := writeFile(t, dir, "b.jsonl", `{"epoch":1,"train_loss":2.1,"train_top1":0.19}`)
	out := filepath.Join(dir, "cmp.png")
	var stdout, stderr bytes.Buffer
	require.NoError(t, run([]string{"--out", out, "fp32=" + a, "bf16=" + b}, &stdout, &stderr))
	assert.Equal(t, "wrote "+out+" (2 runs)\n", stdout.String())
	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	_, err = png.Decode(f)
	assert.NoError(t, err)
}

func TestCurvesBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.jsonl", "{\"epoch\":1}\nnot json\n")
	empty := writeFile(t, dir, "empty.jsonl", "\n")
	zero := writeFile(t, dir, "zero.jsonl", `{"train_loss":1}`)
	good := writeFile(t, dir, "good.jsonl", `{"epoch":1,"train_loss":1}`)
	long := writeFile(t, dir, "long.jsonl", "{\"epoch\":1}\n\n"+strings.Repeat(" ", 2<<20))
	link := filepath.Join(dir, "link.png")
	require.NoError(t, os.Symlink(good, link))
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "no logs given"},
		{[]string{"run.jsonl"}, `argument "run.jsonl" is not NAME=LOG.jsonl`},
		{[]string{"--out", "x.jpg", "a=" + bad}, "--out x.jpg must end in .png"},
		{[]string{"a=" + bad}, bad + ":2: invalid epoch metrics"},
		{[]string{"a=" + empty}, empty + ": no epochs in the log"},
		{[]string{"a=" + zero}, zero + ":1: epoch 0, want 1 or more"},
		{[]string{"a=" + filepath.Join(dir, "missing.jsonl")}, "missing.jsonl: no such file"},
		{[]string{"a=" + long}, long + ":3: line longer than 1048576 bytes"},
		{[]string{"a=" + good, "--out", "x.png"}, "flag --out comes after a log argument"},
		{[]string{"a=" + dir}, dir + " is a folder, not a log file"},
		{[]string{"--out", filepath.Join(dir, "none", "x.png"), "a=" + good},
			"--out: " + filepath.Join(dir, "none", "x.png") + ": folder"},
		{[]string{"--out", link, "a=" + good},
			"--out " + link + " is the same file as the log " + good},
	} {
		var stdout, stderr bytes.Buffer
		err := run(c.args, &stdout, &stderr)
		require.Error(t, err, "%v", c.args)
		assert.Contains(t, err.Error(), c.want, "%v", c.args)
		assert.NotContains(t, err.Error(), "\n", "%v: one line", c.args)
	}
	logAfter, err := os.ReadFile(good)
	require.NoError(t, err)
	assert.Equal(t, `{"epoch":1,"train_loss":1}`, string(logAfter))
	var stdout, stderr bytes.Buffer
	assert.ErrorIs(t, run([]string{"--help"}, &stdout, &stderr), flag.ErrHelp)
	assert.Contains(t, stderr.String(), "Usage: curves")
}
