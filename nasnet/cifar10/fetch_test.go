package cifar10

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDownloadAndExtract(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.tar.gz")
	files := map[string][]byte{"cifar-10-batches-bin/test_batch.bin": fakeBatch(RecordsPerFile)}
	for _, name := range TrainFiles {
		files["cifar-10-batches-bin/"+name] = fakeBatch(RecordsPerFile)
	}
	files["../evil/test_batch.bin.sh"] = []byte("never written")
	writeTarGz(t, src, files)
	archive, err := os.ReadFile(src)
	require.NoError(t, err)
	sum := md5.Sum(archive)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cifar.tar.gz" {
			http.NotFound(w, r)
			return
		}
		w.Write(archive)
	}))
	defer srv.Close()

	dst := filepath.Join(dir, "got.tar.gz")
	err = Download(context.Background(), srv.URL+"/cifar.tar.gz", dst,
		hex.EncodeToString(sum[:]), nil)
	require.NoError(t, err)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, archive, got)

	out := filepath.Join(dir, "data")
	require.NoError(t, Extract(context.Background(), dst, out))
	assert.True(t, Complete(out))
	set, err := LoadTest(out)
	require.NoError(t, err)
	assert.Equal(t, RecordsPerFile, set.Len())
	_, err = os.Stat(filepath.Join(dir, "evil"))
	assert.True(t, os.IsNotExist(err), "paths outside the output folder are ignored")

	bad := filepath.Join(dir, "bad.tar.gz")
	err = Download(context.Background(), srv.URL+"/cifar.tar.gz", bad,
		"00000000000000000000000000000000", nil)
	assert.ErrorContains(t, err, "MD5 is")
	_, err = os.Stat(bad)
	assert.True(t, os.IsNotExist(err), "no file left after a failed check")

	err = Download(context.Background(), srv.URL+"/missing", bad, "", nil)
	assert.ErrorContains(t, err, "404")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".part", "temporary file left behind")
	}
}

func TestExtractRejectsBadArchives(t *testing.T) {
	dir := t.TempDir()
	batch := fakeBatch(RecordsPerFile)
	short := filepath.Join(dir, "short.tar.gz")
	writeTarGz(t, short, map[string][]byte{"data_batch_3.bin": []byte("abc")})
	twice := filepath.Join(dir, "twice.tar.gz")
	writeTarGz(t, twice, map[string][]byte{"a/test_batch.bin": batch, "b/test_batch.bin": batch})
	partial := filepath.Join(dir, "partial.tar.gz")
	writeTarGz(t, partial, map[string][]byte{"test_batch.bin": batch})
	whole, err := os.ReadFile(partial)
	require.NoError(t, err)
	cut := filepath.Join(dir, "cut.tar.gz")
	require.NoError(t, os.WriteFile(cut, whole[:len(whole)/2], 0o644))

	for _, tc := range []struct {
		archive, want string
	}{
		{short, short + ": data_batch_3.bin is 3 bytes, expected 30730000"},
		{twice, twice + ": test_batch.bin appears twice in the archive"},
		{partial, partial + ": the archive lacks 5 of the 6 CIFAR-10 batch files: " +
			"data_batch_1.bin, data_batch_2.bin"},
		{cut, cut + ": the archive is truncated inside test_batch.bin"},
	} {
		out := t.TempDir()
		err := Extract(context.Background(), tc.archive, out)
		require.Error(t, err, tc.archive)
		assert.Contains(t, err.Error(), tc.want)
		assert.False(t, Complete(out), tc.archive)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := t.TempDir()
	require.ErrorIs(t, Extract(ctx, partial, out), context.Canceled)
	entries, err := os.ReadDir(filepath.Join(out, "cifar-10-batches-bin"))
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing is written after the context ends")
}
