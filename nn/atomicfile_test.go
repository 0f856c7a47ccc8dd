package nn

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

func TestWriteFileAtomicKeepsModeAndLinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target.npy")
	require.NoError(t, os.WriteFile(target, []byte("old"), 0o640))
	link := filepath.Join(dir, "link.npy")
	require.NoError(t, os.Symlink(target, link))

	require.NoError(t, WriteFileAtomic(link, writeString("new")))
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "new", string(got))
	st, err := os.Lstat(link)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, st.Mode().Type(), "the link stays a link")
	st, err = os.Stat(target)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm(), "existing mode kept")

	fresh := filepath.Join(dir, "fresh.npy")
	require.NoError(t, WriteFileAtomic(fresh, writeString("x")))
	st, err = os.Stat(fresh)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())
}

func TestWriteFileAtomicRejectsSpecialTargets(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	cases := map[string]string{
		dir:                                    "is a folder, not a file",
		fifo:                                   "not a regular file",
		filepath.Join(dir, "missing", "x.npy"): "does not exist",
	}
	for path, msg := range cases {
		err := WriteFileAtomic(path, writeString("x"))
		require.Error(t, err, path)
		assert.Contains(t, err.Error(), msg, path)
		assert.Contains(t, err.Error(), path, "the message names the path")
		assert.NotContains(t, err.Error(), ".tmp", "no temporary name in the message")
	}
	st, err := os.Stat(fifo)
	require.NoError(t, err)
	assert.Equal(t, os.ModeNamedPipe, st.Mode().Type(), "the pipe is left in place")
}

func TestCheckOutputPathRejectsUnwritableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can create files in a read-only folder")
	}
	dir := filepath.Join(t.TempDir(), "ro")
	require.NoError(t, os.Mkdir(dir, 0o555))
	err := CheckOutputPath(filepath.Join(dir, "out.safetensors"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot create files in folder")
	require.NoError(t, CheckOutputPath(filepath.Join(t.TempDir(), "out.safetensors")))
}

func TestWriteFileAtomicRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	stale := filepath.Join(dir, ".w.safetensors.tmp123456")
	other := filepath.Join(dir, ".w.safetensors.tmpnotmine")
	for _, p := range []string{stale, other} {
		require.NoError(t, os.WriteFile(p, []byte("half"), 0o600))
	}
	require.NoError(t, WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write([]byte("whole"))
		return err
	}))
	_, err := os.Stat(stale)
	assert.ErrorIs(t, err, fs.ErrNotExist, "a killed write's temporary file is removed")
	_, err = os.Stat(other)
	assert.NoError(t, err, "a file of another name is kept")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "whole", string(got))
}
