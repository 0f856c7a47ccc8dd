package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/nasnet/cifar10"
)

func TestFetchdataBadFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	missing := filepath.Join(dir, "missing.tar.gz")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", ""}, "--out is empty"},
		{[]string{"--out", dir, "--md5", "zz"}, `--md5 "zz" is not 32 hexadecimal digits`},
		{[]string{"--out", file}, "--out: mkdir " + file},
		{[]string{"--out", dir, "--from", missing, "--url", ""},
			"no archive at " + missing + " (--from) and --url is empty"},
	} {
		var stderr bytes.Buffer
		err := run(tc.args, &stderr)
		require.Error(t, err, "%v", tc.args)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func TestFetchdataKeepsCompleteFolder(t *testing.T) {
	dir := t.TempDir()
	batches := filepath.Join(dir, "cifar-10-batches-bin")
	require.NoError(t, os.Mkdir(batches, 0o755))
	names := append(append([]string{}, cifar10.TrainFiles...), cifar10.TestFiles...)
	for _, name := range names {
		data := make([]byte, cifar10.RecordsPerFile*cifar10.RecordBytes)
		require.NoError(t, os.WriteFile(filepath.Join(batches, name), data, 0o644))
	}
	var stderr bytes.Buffer
	require.NoError(t, run([]string{"--out", dir, "--from", "none.tar.gz"}, &stderr))
	assert.Contains(t, stderr.String(), dir+" already contains the CIFAR-10 data set")

	// Without one batch the folder is incomplete, and the missing archive is an error.
	require.NoError(t, os.Remove(filepath.Join(batches, "data_batch_4.bin")))
	err := run([]string{"--out", dir, "--from", filepath.Join(dir, "none.tar.gz"), "--url",
		"http://127.0.0.1:1/none.tar.gz"}, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "give a local copy of the archive with --from")
}
