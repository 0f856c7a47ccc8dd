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
	require.NoError(t, Extract(dst, out))
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
