package cifar10

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/internal/datatest"
)

// fakeBatch returns a batch file of n records; record i has label i%10 and every pixel byte
// equal to i%251.
func fakeBatch(n int) []byte {
	b := make([]byte, n*RecordBytes)
	for i := range n {
		rec := b[i*RecordBytes : (i+1)*RecordBytes]
		rec[0] = byte(i % 10)
		for j := 1; j < RecordBytes; j++ {
			rec[j] = byte(i % 251)
		}
	}
	return b
}

func writeTarGz(t *testing.T, path string, files map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, data := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644,
			Size: int64(len(data)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(data)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

func TestLoadFolderAndArchiveAgree(t *testing.T) {
	dir := t.TempDir()
	batch := fakeBatch(RecordsPerFile)
	sub := filepath.Join(dir, "cifar-10-batches-bin")
	require.NoError(t, os.MkdirAll(sub, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(sub, "test_batch.bin"), batch, 0o644))
	fromDir, err := LoadTest(dir)
	require.NoError(t, err)
	require.Equal(t, RecordsPerFile, fromDir.Len())
	assert.Equal(t, uint8(7), fromDir.Labels[17])
	assert.Equal(t, byte(17), fromDir.Image(17)[3071])

	archive := filepath.Join(dir, "c.tar.gz")
	writeTarGz(t, archive, map[string][]byte{"cifar-10-batches-bin/test_batch.bin": batch})
	fromTar, err := LoadTest(archive)
	require.NoError(t, err)
	assert.Equal(t, fromDir.Labels, fromTar.Labels)
	assert.Equal(t, fromDir.Images, fromTar.Images)
}

func TestLoadRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "test_batch.bin")

	require.NoError(t, os.WriteFile(path, fakeBatch(RecordsPerFile)[:RecordBytes*3+5], 0o644))
	_, err := LoadTest(dir)
	require.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, path+": ")
	assert.ErrorContains(t, err, "size is 9224 bytes")

	bad := fakeBatch(RecordsPerFile)
	bad[5*RecordBytes] = 12
	require.NoError(t, os.WriteFile(path, bad, 0o644))
	_, err = LoadTest(dir)
	assert.ErrorContains(t, err, "record 5 has label 12")

	_, err = LoadTest(filepath.Join(dir, "absent"))
	assert.ErrorContains(t, err, "make data")
	_, err = LoadTest("")
	assert.ErrorContains(t, err, "CIFAR-10 data: the path is empty")

	archive := filepath.Join(dir, "c.tar.gz")
	writeTarGz(t, archive, map[string][]byte{"x/readme.txt": []byte("hi")})
	_, err = LoadTest(archive)
	assert.ErrorContains(t, err, "archive has no test_batch.bin")

	writeTarGz(t, archive, map[string][]byte{"test_batch.bin": fakeBatch(RecordsPerFile)})
	good, err := os.ReadFile(archive)
	require.NoError(t, err)
	damaged := append([]byte(nil), good...)
	damaged[len(damaged)-6] ^= 0xff // inside the gzip CRC-32 trailer
	require.NoError(t, os.WriteFile(archive, damaged, 0o644))
	_, err = LoadTest(archive)
	assert.ErrorContains(t, err, "checksum", "a damaged gzip trailer is detected")

	empty := t.TempDir()
	_, err = LoadTest(empty)
	assert.ErrorContains(t, err, "test_batch.bin not found in "+empty)

	require.NoError(t, os.WriteFile(archive, []byte("not gzip"), 0o644))
	_, err = LoadTest(archive)
	assert.ErrorContains(t, err, "not a .tar.gz archive")
}

func TestNormalize(t *testing.T) {
	set := &Set{Images: make([]byte, 2*ImageBytes), Labels: []uint8{0, 1}}
	set.Images[ImageBytes+0] = 255    // image 1, red
	set.Images[ImageBytes+1024] = 0   // image 1, green
	set.Images[ImageBytes+2048] = 128 // image 1, blue
	dst := make([]float32, ImageBytes)
	set.Normalize(dst, 1, 2)
	assert.InDelta(t, (1-0.4914)/0.2023, dst[0], 1e-6)
	assert.InDelta(t, (0-0.4822)/0.1994, dst[1024], 1e-6)
	assert.InDelta(t, (128.0/255-0.4465)/0.2010, dst[2048], 1e-6)
}

func TestRealTestSet(t *testing.T) {
	set, err := LoadTest(datatest.CIFAR10Archive(t))
	require.NoError(t, err)
	require.Equal(t, 10000, set.Len())
	var counts [NumClasses]int
	for _, l := range set.Labels {
		counts[l]++
	}
	for c, n := range counts {
		assert.Equal(t, 1000, n, "class %s", ClassNames[c])
	}
}
