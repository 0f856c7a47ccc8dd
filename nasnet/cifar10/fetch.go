package cifar10

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Official source of the binary distribution and the MD5 of its archive.
const (
	ArchiveURL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
	ArchiveMD5 = "c32a1d4ab5d03f1284b67883e8d87530"
)

// ArchiveName is the file name of the binary distribution's archive.
const ArchiveName = "cifar-10-binary.tar.gz"

// Download fetches url into the file dst and checks that its MD5 is wantMD5 (hex; empty skips
// the check). progress, if not nil, receives every chunk written, for a progress bar. The data
// goes to a temporary file beside dst that is renamed only after the check passes, so a failed
// or interrupted download never leaves a partial dst.
func Download(ctx context.Context, url, dst, wantMD5 string, progress io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("downloading %s: HTTP status %s", url, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".part*")
	if err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes the file private
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	defer tmp.Close()
	h := md5.New()
	w := io.MultiWriter(tmp, h)
	if progress != nil {
		w = io.MultiWriter(w, progress)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("downloading %s: %w", url, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); wantMD5 != "" && got != wantMD5 {
		return fmt.Errorf("downloading %s: MD5 is %s, want %s (corrupted download?)", url,
			got, wantMD5)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// Extract unpacks the batch files and batches.meta.txt of a binary-distribution archive into
// dir/cifar-10-batches-bin/. Only those known names are written, whatever paths the archive
// holds, and each file is written atomically. Every batch file must be in the archive once,
// with 10,000 records. When ctx ends, Extract stops after the file it is writing.
func Extract(ctx context.Context, archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return fmt.Errorf("%s: not a .tar.gz archive: %w", archive, err)
	}
	out := filepath.Join(dir, "cifar-10-batches-bin")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	batches := append(slices.Clone(TrainFiles), TestFiles...)
	found := map[string]bool{}
	tr := tar.NewReader(gz)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: reading the archive: %w", archive, err)
		}
		name := path.Base(h.Name)
		batch := slices.Contains(batches, name)
		if h.Typeflag != tar.TypeReg || !batch && name != "batches.meta.txt" {
			continue
		}
		if batch && found[name] {
			return fmt.Errorf("%s: %s appears twice in the archive", archive, name)
		}
		if want := int64(RecordsPerFile * RecordBytes); batch && h.Size != want {
			return fmt.Errorf("%s: %s is %d bytes, expected %d", archive, name, h.Size, want)
		}
		if err := writeFile(filepath.Join(out, name), tr); errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%s: the archive is truncated inside %s", archive, name)
		} else if err != nil {
			return err
		}
		found[name] = batch
	}
	var missing []string
	for _, name := range batches {
		if !found[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: the archive lacks %d of the %d CIFAR-10 batch files: %s",
			archive, len(missing), len(batches), strings.Join(missing, ", "))
	}
	return nil
}

// Complete reports whether dir, or its cifar-10-batches-bin/ folder, contains every batch
// file of the data set with its full size.
func Complete(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "cifar-10-batches-bin")); err == nil {
		dir = filepath.Join(dir, "cifar-10-batches-bin")
	}
	for _, name := range append(slices.Clone(TrainFiles), TestFiles...) {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !st.Mode().IsRegular() || st.Size() != RecordsPerFile*RecordBytes {
			return false
		}
	}
	return true
}

func writeFile(dst string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".part*")
	if err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes the file private
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := io.Copy(tmp, r); err != nil {
		return fmt.Errorf("%s: %w", dst, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
