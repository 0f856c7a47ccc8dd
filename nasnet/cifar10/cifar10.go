// Package cifar10 reads the CIFAR-10 data set in its official binary layout and prepares
// images for the network.
//
// The binary distribution unpacks to cifar-10-batches-bin/ with data_batch_1.bin to
// data_batch_5.bin (training) and test_batch.bin (test), 10,000 records each. A record is
// 3,073 bytes: the label (0-9), then a 32×32 image as 1,024 red, 1,024 green and 1,024 blue
// bytes, rows top to bottom.
package cifar10

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Sizes of the binary layout.
const (
	ImageBytes     = 3 * 32 * 32
	RecordBytes    = 1 + ImageBytes
	RecordsPerFile = 10000
	NumClasses     = 10
)

// Files of each split, in order.
var (
	TrainFiles = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
		"data_batch_4.bin", "data_batch_5.bin"}
	TestFiles = []string{"test_batch.bin"}
)

// ClassNames are the labels' names, in label order.
var ClassNames = [NumClasses]string{"airplane", "automobile", "bird", "cat", "deer", "dog",
	"frog", "horse", "ship", "truck"}

// ErrFormat is wrapped by every error about a file that does not have the binary layout.
var ErrFormat = errors.New("not a CIFAR-10 binary file")

// Set is a split of the data set: Images holds Len()·ImageBytes bytes in record order, and
// Labels one label per image.
type Set struct {
	Images []byte
	Labels []uint8
}

// Len returns the number of images.
func (s *Set) Len() int { return len(s.Labels) }

// Image returns the 3,072 bytes of image i (planes R, G, B).
func (s *Set) Image(i int) []byte { return s.Images[i*ImageBytes : (i+1)*ImageBytes] }

// LoadTest reads the test split from src; see Load.
func LoadTest(src string) (*Set, error) { return Load(src, TestFiles) }

// LoadTrain reads the training split from src; see Load.
func LoadTrain(src string) (*Set, error) { return Load(src, TrainFiles) }

// Load reads the named batch files from src, which is a folder that holds them (directly or
// in cifar-10-batches-bin/) or the .tar.gz archive of the binary distribution. Each file must
// hold exactly 10,000 records with labels 0-9; errors name the file and what is wrong.
func Load(src string, files []string) (*Set, error) {
	if src == "" {
		return nil, errors.New("CIFAR-10 data: the path is empty (run `make data` to fetch " +
			"the data set into data/)")
	}
	st, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("CIFAR-10 data: %w (run `make data` to fetch it)", err)
	}
	set := &Set{}
	if st.IsDir() {
		dir := src
		if _, err := os.Stat(filepath.Join(dir, "cifar-10-batches-bin")); err == nil {
			dir = filepath.Join(dir, "cifar-10-batches-bin")
		}
		for _, name := range files {
			path := filepath.Join(dir, name)
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("CIFAR-10 data: %s not found in %s or in its "+
					"cifar-10-batches-bin/ folder (run `make data` to fetch the data set)",
					name, src)
			}
			if err := set.readFile(path); err != nil {
				return nil, err
			}
		}
		return set, nil
	}
	if err := set.readArchive(src, files); err != nil {
		return nil, err
	}
	return set, nil
}

func (s *Set) readFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("CIFAR-10 data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return s.readBatch(bufio.NewReader(f), st.Size(), p)
}

// readArchive reads the named members of a .tar.gz archive, in the order of files.
func (s *Set) readArchive(p string, files []string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("CIFAR-10 data: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return fmt.Errorf("%s: not a .tar.gz archive: %w", p, err)
	}
	want := map[string]int{}
	for i, name := range files {
		want[name] = i
	}
	parts := make([]*Set, len(files))
	tr := tar.NewReader(gz)
	for found := 0; found < len(files); {
		h, err := tr.Next()
		if err == io.EOF {
			var missing []string
			for i, part := range parts {
				if part == nil {
					missing = append(missing, files[i])
				}
			}
			return fmt.Errorf("%s: archive has no %s", p, strings.Join(missing, ", "))
		}
		if err != nil {
			return fmt.Errorf("%s: reading the archive: %w", p, err)
		}
		i, ok := want[path.Base(h.Name)]
		if !ok || h.Typeflag != tar.TypeReg || parts[i] != nil {
			continue
		}
		part := &Set{}
		if err := part.readBatch(tr, h.Size, p+":"+h.Name); err != nil {
			return err
		}
		parts[i] = part
		found++
	}
	// Read the archive to its end, so that gzip verifies its checksum and length.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return fmt.Errorf("%s: reading the archive: %w", p, err)
	}
	for _, part := range parts {
		s.Images = append(s.Images, part.Images...)
		s.Labels = append(s.Labels, part.Labels...)
	}
	return nil
}

// readBatch reads one batch file of size bytes; name is used in errors.
func (s *Set) readBatch(r io.Reader, size int64, name string) error {
	if size != RecordsPerFile*RecordBytes {
		return fmt.Errorf("%s: %w: size is %d bytes, want %d (%d records of %d bytes)",
			name, ErrFormat, size, RecordsPerFile*RecordBytes, RecordsPerFile, RecordBytes)
	}
	var rec [RecordBytes]byte
	base := len(s.Labels)
	s.Images = append(s.Images, make([]byte, RecordsPerFile*ImageBytes)...)
	imgs := s.Images[base*ImageBytes:]
	for i := range RecordsPerFile {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			return fmt.Errorf("%s: %w: record %d: %v", name, ErrFormat, i, err)
		}
		if rec[0] >= NumClasses {
			return fmt.Errorf("%s: %w: record %d has label %d, want 0-9", name, ErrFormat, i,
				rec[0])
		}
		s.Labels = append(s.Labels, rec[0])
		copy(imgs[i*ImageBytes:], rec[1:])
	}
	return nil
}
