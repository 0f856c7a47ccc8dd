package nn

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/renasgo/renas/tensor"
)

// MaxSafetensorsHeader is the largest JSON header that ReadSafetensors accepts, in bytes; the
// reference implementation uses the same bound.
const MaxSafetensorsHeader = 100 << 20

// ErrSafetensors is wrapped by every error about a malformed safetensors file.
var ErrSafetensors = errors.New("invalid safetensors file")

type safetensorsEntry struct {
	DType       string `json:"dtype"`
	Shape       []int  `json:"shape"`
	DataOffsets [2]int `json:"data_offsets"`
}

// NamedTensor pairs a tensor with its checkpoint name.
type NamedTensor struct {
	Name   string
	Tensor *tensor.Tensor
}

// ReadSafetensorsFile reads every tensor of a safetensors file. Errors name the file.
func ReadSafetensorsFile(path string) (map[string]*tensor.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	m, err := ReadSafetensors(bufio.NewReader(f), st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ReadSafetensors reads a safetensors stream of size bytes: an 8-byte little-endian header
// length, a JSON header mapping names to dtype, shape and data offsets, then the data. F32,
// F16 and BF16 tensors are supported and any other dtype is an error. The "__metadata__"
// entry is skipped. Memory use is bounded by size, so a hostile header cannot make it
// allocate more than the file could hold.
func ReadSafetensors(r io.Reader, size int64) (map[string]*tensor.Tensor, error) {
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, fmt.Errorf("%w: reading the header length: %v", ErrSafetensors, err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxSafetensorsHeader || int64(n) > size-8 {
		return nil, fmt.Errorf("%w: header length %d exceeds the file (%d bytes) or the "+
			"%d-byte limit", ErrSafetensors, n, size, MaxSafetensorsHeader)
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, fmt.Errorf("%w: reading the header: %v", ErrSafetensors, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return nil, fmt.Errorf("%w: header is not a JSON object: %v", ErrSafetensors, err)
	}
	dataSize := size - 8 - int64(n)
	entries := make(map[string]safetensorsEntry, len(raw))
	names := make([]string, 0, len(raw))
	for name, msg := range raw {
		if name == "__metadata__" {
			continue
		}
		var e safetensorsEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("%w: tensor %q: %v", ErrSafetensors, name, err)
		}
		if err := checkEntry(name, e, dataSize); err != nil {
			return nil, err
		}
		entries[name] = e
		names = append(names, name)
	}
	// Read the data section in offset order, so the stream is consumed front to back.
	slices.SortFunc(names, func(a, b string) int {
		return entries[a].DataOffsets[0] - entries[b].DataOffsets[0]
	})
	out := make(map[string]*tensor.Tensor, len(names))
	pos := 0
	for _, name := range names {
		e := entries[name]
		if e.DataOffsets[0] < pos {
			return nil, fmt.Errorf("%w: tensor %q overlaps the tensor before it",
				ErrSafetensors, name)
		}
		if _, err := io.CopyN(io.Discard, r, int64(e.DataOffsets[0]-pos)); err != nil {
			return nil, fmt.Errorf("%w: tensor %q: %v", ErrSafetensors, name, err)
		}
		t, err := readTensorData(r, e)
		if err != nil {
			return nil, fmt.Errorf("%w: tensor %q: %v", ErrSafetensors, name, err)
		}
		out[name] = t
		pos = e.DataOffsets[1]
	}
	return out, nil
}

func checkEntry(name string, e safetensorsEntry, dataSize int64) error {
	var elem int
	switch e.DType {
	case "F32":
		elem = 4
	case "F16", "BF16":
		elem = 2
	default:
		return fmt.Errorf("%w: tensor %q has unsupported dtype %q (want F32, F16 or BF16)",
			ErrSafetensors, name, e.DType)
	}
	count, err := tensor.Shape(e.Shape).NumElements()
	if err != nil || count > math.MaxInt/elem {
		return fmt.Errorf("%w: tensor %q has invalid shape %v", ErrSafetensors, name, e.Shape)
	}
	b, end := e.DataOffsets[0], e.DataOffsets[1]
	if b < 0 || end < b || int64(end) > dataSize || end-b != count*elem {
		return fmt.Errorf("%w: tensor %q: data offsets [%d, %d] do not fit shape %v of %s "+
			"in a %d-byte data section", ErrSafetensors, name, b, end, e.Shape, e.DType, dataSize)
	}
	return nil
}

func readTensorData(r io.Reader, e safetensorsEntry) (*tensor.Tensor, error) {
	buf := make([]byte, e.DataOffsets[1]-e.DataOffsets[0])
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if e.DType == "F32" {
		data := make([]float32, len(buf)/4)
		for i := range data {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
		return tensor.FromFloat32(data, e.Shape...)
	}
	bits := make([]uint16, len(buf)/2)
	for i := range bits {
		bits[i] = binary.LittleEndian.Uint16(buf[2*i:])
	}
	dt := tensor.Float16
	if e.DType == "BF16" {
		dt = tensor.BFloat16
	}
	return tensor.FromBits16(dt, bits, e.Shape...)
}

// WriteSafetensors writes tensors, in the given order, in the safetensors format.
func WriteSafetensors(w io.Writer, tensors []NamedTensor) error {
	header := make(map[string]safetensorsEntry, len(tensors))
	off := 0
	for _, nt := range tensors {
		if _, dup := header[nt.Name]; dup {
			return fmt.Errorf("safetensors: tensor %q appears twice", nt.Name)
		}
		size := nt.Tensor.Len() * nt.Tensor.DType().Size()
		header[nt.Name] = safetensorsEntry{DType: nt.Tensor.DType().String(),
			Shape: nt.Tensor.Shape().Clone(), DataOffsets: [2]int{off, off + size}}
		off += size
	}
	js, err := json.Marshal(header)
	if err != nil {
		return err
	}
	// Pad the header with spaces so that the data section starts 8-byte aligned.
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	bw := bufio.NewWriter(w)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(js)))
	bw.Write(lenBuf[:])
	bw.Write(js)
	var b4 [4]byte
	for _, nt := range tensors {
		if f := nt.Tensor.Float32s(); f != nil {
			for _, v := range f {
				binary.LittleEndian.PutUint32(b4[:], math.Float32bits(v))
				bw.Write(b4[:])
			}
			continue
		}
		for _, v := range nt.Tensor.Bits16() {
			binary.LittleEndian.PutUint16(b4[:2], v)
			bw.Write(b4[:2])
		}
	}
	return bw.Flush()
}

// WriteSafetensorsFile writes tensors to path atomically: the data goes to a temporary file in
// the same folder, which is synced and renamed over path only when complete, so a failure
// never leaves a partial file in place of a good one.
func WriteSafetensorsFile(path string, tensors []NamedTensor) error {
	return WriteFileAtomic(path, func(w io.Writer) error { return WriteSafetensors(w, tensors) })
}

// WriteFileAtomic writes a file through write into a temporary file beside path, syncs it
// and renames it to path. On any error the temporary file is removed and path is unchanged.
func WriteFileAtomic(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
