package nn

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"unicode/utf8"

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

// rawDTypeSizes maps each safetensors dtype that the raw API supports to its element size in
// bytes. BOOL is one byte per element, 0 or 1.
var rawDTypeSizes = map[string]int{
	"F64": 8, "F32": 4, "F16": 2, "BF16": 2,
	"I64": 8, "I32": 4, "I16": 2, "I8": 1,
	"U64": 8, "U32": 4, "U16": 2, "U8": 1,
	"BOOL": 1,
}

// RawDTypeSize returns the element size in bytes of a safetensors dtype, and false for a
// dtype that the raw API does not support.
func RawDTypeSize(dtype string) (int, bool) {
	size, ok := rawDTypeSizes[dtype]
	return size, ok
}

// RawTensor is a named tensor of any supported dtype, kept as its bytes.
type RawTensor struct {
	Name string
	// DType is the safetensors dtype, one of those RawDTypeSize accepts.
	DType string
	// Shape lists the dimensions, outermost first. It is empty for a 0-d tensor.
	Shape []int
	// Data contains the elements, little-endian in row-major order.
	Data []byte
}

// NumElements returns the number of elements of t (1 for a 0-d tensor). Data is not checked.
func (t RawTensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Check returns an error when t has an unsupported dtype, an invalid shape, or a data length
// that does not match its shape.
func (t RawTensor) Check() error {
	size, ok := RawDTypeSize(t.DType)
	if !ok {
		return fmt.Errorf("tensor %q has unsupported dtype %q", t.Name, t.DType)
	}
	count, err := tensor.Shape(t.Shape).NumElements()
	if err != nil || count > math.MaxInt/size {
		return fmt.Errorf("tensor %q has invalid shape %v", t.Name, t.Shape)
	}
	if count*size != len(t.Data) {
		return fmt.Errorf("tensor %q has %d bytes, but shape %v of %s needs %d", t.Name,
			len(t.Data), t.Shape, t.DType, count*size)
	}
	return nil
}

// Tensor decodes t into a tensor.Tensor. F32, F16 and BF16 are supported, and any other dtype
// is an error.
func (t RawTensor) Tensor() (*tensor.Tensor, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	switch t.DType {
	case "F32":
		data := make([]float32, len(t.Data)/4)
		for i := range data {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
		return tensor.FromFloat32(data, t.Shape...)
	case "F16", "BF16":
		bits := make([]uint16, len(t.Data)/2)
		for i := range bits {
			bits[i] = binary.LittleEndian.Uint16(t.Data[2*i:])
		}
		dt := tensor.Float16
		if t.DType == "BF16" {
			dt = tensor.BFloat16
		}
		return tensor.FromBits16(dt, bits, t.Shape...)
	}
	return nil, fmt.Errorf("tensor %q has dtype %s, but only F32, F16 and BF16 convert to a "+
		"tensor.Tensor", t.Name, t.DType)
}

// NewRawTensor returns the bytes of a tensor.Tensor under name.
func NewRawTensor(name string, t *tensor.Tensor) RawTensor {
	data := make([]byte, 0, t.Len()*t.DType().Size())
	if f := t.Float32s(); f != nil {
		for _, v := range f {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
	} else {
		for _, v := range t.Bits16() {
			data = binary.LittleEndian.AppendUint16(data, v)
		}
	}
	return RawTensor{Name: name, DType: t.DType().String(), Shape: t.Shape().Clone(),
		Data: data}
}

// ReadSafetensorsFile reads every tensor of a safetensors file. Errors name the file.
func ReadSafetensorsFile(path string) (map[string]*tensor.Tensor, error) {
	return readSafetensorsFile(path, ReadSafetensors)
}

// readSafetensorsFile opens path, checks that it is a regular file, whose size the format
// needs, and reads it with read. Errors name the file.
func readSafetensorsFile[T any](path string, read func(io.Reader, int64) (T, error)) (T,
	error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return zero, err
	}
	switch {
	case st.IsDir():
		return zero, fmt.Errorf("%s: %w: a folder, not a file", path, ErrSafetensors)
	case !st.Mode().IsRegular():
		return zero, fmt.Errorf("%s: %w: not a regular file", path, ErrSafetensors)
	case st.Size() == 0:
		return zero, fmt.Errorf("%s: %w: empty file", path, ErrSafetensors)
	}
	out, err := read(bufio.NewReader(f), st.Size())
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// ReadSafetensors reads a safetensors stream of size bytes into float tensors. F32, F16 and
// BF16 tensors are supported and any other dtype is an error, but ReadSafetensorsRaw reads
// every dtype. The "__metadata__" entry is skipped. Memory use is bounded by size, so a hostile
// header cannot make it allocate more than the file could hold.
func ReadSafetensors(r io.Reader, size int64) (map[string]*tensor.Tensor, error) {
	out := map[string]*tensor.Tensor{}
	isFloat := func(dtype string) bool { return dtype == "F32" || dtype == "F16" || dtype == "BF16" }
	// Each tensor is converted as soon as it is read, so its raw bytes can be freed.
	err := readSafetensorsRaw(r, size, isFloat, func(rt RawTensor) error {
		t, err := rt.Tensor()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrSafetensors, err)
		}
		out[rt.Name] = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReadSafetensorsRaw reads a safetensors stream of size bytes, keeping each tensor as its
// raw bytes, in the order of the data section. Every dtype listed by RawDTypeSize is
// supported. The layout is an 8-byte little-endian header length, a JSON header that maps
// names to dtype, shape and data offsets, then the data. Memory use is bounded by size.
func ReadSafetensorsRaw(r io.Reader, size int64) ([]RawTensor, error) {
	var out []RawTensor
	err := readSafetensorsRaw(r, size, func(string) bool { return true },
		func(rt RawTensor) error {
			out = append(out, rt)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReadSafetensorsRawFile reads every tensor of a safetensors file as ReadSafetensorsRaw does.
// Errors name the file.
func ReadSafetensorsRawFile(path string) ([]RawTensor, error) {
	return readSafetensorsFile(path, ReadSafetensorsRaw)
}

// readSafetensorsRaw reads a safetensors stream and passes each tensor to each, in data
// order. It rejects, before reading any data, a dtype for which accept returns false.
func readSafetensorsRaw(r io.Reader, size int64, accept func(dtype string) bool,
	each func(RawTensor) error) error {
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return fmt.Errorf("%w: reading the header length: %v", ErrSafetensors, err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxSafetensorsHeader || int64(n) > size-8 {
		return fmt.Errorf("%w: header length %d exceeds the file (%d bytes) or the "+
			"%d-byte limit", ErrSafetensors, n, size, MaxSafetensorsHeader)
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(r, header); err != nil {
		return fmt.Errorf("%w: reading the header: %v", ErrSafetensors, err)
	}
	raw, err := decodeHeaderObject(header)
	if err != nil {
		return err
	}
	dataSize := size - 8 - int64(n)
	entries := make(map[string]safetensorsEntry, len(raw))
	names := make([]string, 0, len(raw))
	// Sorted names make the first error the same on every run.
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		if name == "__metadata__" {
			continue
		}
		var e safetensorsEntry
		if err := json.Unmarshal(raw[name], &e); err != nil {
			return fmt.Errorf("%w: tensor %q: %v", ErrSafetensors, name, describeEntryError(err))
		}
		if err := checkEntry(name, e, dataSize, accept); err != nil {
			return err
		}
		entries[name] = e
		names = append(names, name)
	}
	// Read the data section in offset order, so the stream is consumed front to back. Ties
	// (zero-size tensors) are broken by the end offset, then the name.
	slices.SortFunc(names, func(a, b string) int {
		ea, eb := entries[a].DataOffsets, entries[b].DataOffsets
		return cmp.Or(cmp.Compare(ea[0], eb[0]), cmp.Compare(ea[1], eb[1]), cmp.Compare(a, b))
	})
	pos := 0
	for _, name := range names {
		e := entries[name]
		if e.DataOffsets[0] < pos {
			return fmt.Errorf("%w: tensor %q overlaps the tensor before it",
				ErrSafetensors, name)
		}
		if e.DataOffsets[0] > pos {
			return fmt.Errorf("%w: %d unused bytes come before tensor %q: the data section "+
				"has a hole", ErrSafetensors, e.DataOffsets[0]-pos, name)
		}
		if _, err := io.CopyN(io.Discard, r, int64(e.DataOffsets[0]-pos)); err != nil {
			return fmt.Errorf("%w: tensor %q: %v", ErrSafetensors, name, err)
		}
		data := make([]byte, e.DataOffsets[1]-e.DataOffsets[0])
		if _, err := io.ReadFull(r, data); err != nil {
			return fmt.Errorf("%w: tensor %q: %v", ErrSafetensors, name, err)
		}
		shape := e.Shape
		if shape == nil {
			shape = []int{}
		}
		if err := each(RawTensor{Name: name, DType: e.DType, Shape: shape, Data: data}); err != nil {
			return err
		}
		pos = e.DataOffsets[1]
	}
	if int64(pos) != dataSize {
		return fmt.Errorf("%w: %d bytes follow the last tensor: the file is longer than its "+
			"header describes", ErrSafetensors, dataSize-int64(pos))
	}
	return nil
}

func checkEntry(name string, e safetensorsEntry, dataSize int64,
	accept func(dtype string) bool) error {
	if e.DType == "" {
		return fmt.Errorf("%w: tensor %q has no dtype", ErrSafetensors, name)
	}
	elem, ok := RawDTypeSize(e.DType)
	if !ok {
		return fmt.Errorf("%w: tensor %q has unsupported dtype %q", ErrSafetensors, name,
			e.DType)
	}
	if !accept(e.DType) {
		return fmt.Errorf("%w: tensor %q has dtype %s, but only F32, F16 and BF16 load as "+
			"float tensors (ReadSafetensorsRaw reads every dtype)", ErrSafetensors, name, e.DType)
	}
	count, err := tensor.Shape(e.Shape).NumElements()
	if err != nil || count > math.MaxInt/elem {
		return fmt.Errorf("%w: tensor %q has invalid shape %v", ErrSafetensors, name, e.Shape)
	}
	b, end := e.DataOffsets[0], e.DataOffsets[1]
	if b >= 0 && end-b == count*elem && int64(end) > dataSize {
		return fmt.Errorf("%w: the file is truncated: tensor %q ends at byte %d of the data "+
			"section, which holds %d bytes", ErrSafetensors, name, end, dataSize)
	}
	if b < 0 || end < b || int64(end) > dataSize || end-b != count*elem {
		return fmt.Errorf("%w: tensor %q: data offsets [%d, %d] do not fit shape %v of %s "+
			"in a %d-byte data section", ErrSafetensors, name, b, end, e.Shape, e.DType, dataSize)
	}
	return nil
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
			Shape: shapeForJSON(nt.Tensor.Shape()), DataOffsets: [2]int{off, off + size}}
		off += size
	}
	bw := bufio.NewWriter(w)
	if err := writeSafetensorsHeader(bw, header); err != nil {
		return err
	}
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

// WriteSafetensorsRaw writes raw tensors, in the given order, in the safetensors format. It
// checks every tensor before writing anything.
func WriteSafetensorsRaw(w io.Writer, tensors []RawTensor) error {
	header := make(map[string]safetensorsEntry, len(tensors))
	off := 0
	for _, t := range tensors {
		if err := t.Check(); err != nil {
			return fmt.Errorf("safetensors: %w", err)
		}
		if _, dup := header[t.Name]; dup {
			return fmt.Errorf("safetensors: tensor %q appears twice", t.Name)
		}
		// JSON would replace invalid UTF-8 with U+FFFD and so change the name, and a
		// reader skips the "__metadata__" key.
		if !utf8.ValidString(t.Name) || t.Name == "__metadata__" {
			return fmt.Errorf("safetensors: tensor name %q is not valid UTF-8 or is reserved",
				t.Name)
		}
		header[t.Name] = safetensorsEntry{DType: t.DType, Shape: shapeForJSON(t.Shape),
			DataOffsets: [2]int{off, off + len(t.Data)}}
		off += len(t.Data)
	}
	bw := bufio.NewWriter(w)
	if err := writeSafetensorsHeader(bw, header); err != nil {
		return err
	}
	for _, t := range tensors {
		bw.Write(t.Data)
	}
	return bw.Flush()
}

// WriteSafetensorsRawFile writes raw tensors to path atomically, as WriteSafetensorsFile
// does.
func WriteSafetensorsRawFile(path string, tensors []RawTensor) error {
	return WriteFileAtomic(path, func(w io.Writer) error { return WriteSafetensorsRaw(w, tensors) })
}

// shapeForJSON returns shape, or an empty list for a 0-d tensor, which JSON writes as []
// where a nil slice would be null.
func shapeForJSON(shape []int) []int {
	if shape == nil {
		return []int{}
	}
	return slices.Clone(shape)
}

// writeSafetensorsHeader writes the header length and the JSON header, padded with spaces so
// that the data section starts 8-byte aligned.
func writeSafetensorsHeader(bw *bufio.Writer, header map[string]safetensorsEntry) error {
	js, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(js)))
	bw.Write(lenBuf[:])
	_, err = bw.Write(js)
	return err
}

// WriteSafetensorsFile writes tensors to path atomically: the data goes to a temporary file in
// the same folder, which is synced and renamed over path only when complete, so a failure
// never leaves a partial file in place of a good one.
func WriteSafetensorsFile(path string, tensors []NamedTensor) error {
	return WriteFileAtomic(path, func(w io.Writer) error { return WriteSafetensors(w, tensors) })
}

// describeEntryError rewords a JSON type error in a header entry without Go type names.
func describeEntryError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) {
		return err
	}
	want := "a " + typeErr.Type.Kind().String()
	switch typeErr.Type.Kind() {
	case reflect.Int:
		want = "an integer"
	case reflect.Slice, reflect.Array:
		want = "a list"
	}
	return fmt.Errorf("field %s: expected %s, found a JSON %s", typeErr.Field, want,
		typeErr.Value)
}

// describeToken returns a JSON token as the header spells it, such as null or "name".
func describeToken(tok json.Token) string {
	if d, ok := tok.(json.Delim); ok {
		return d.String()
	}
	b, err := json.Marshal(tok)
	if err != nil {
		return fmt.Sprint(tok)
	}
	return string(b)
}

// decodeHeaderObject decodes the top-level JSON object of a header into its members, and
// rejects a name that appears twice, which a map would silently collapse to one entry.
func decodeHeaderObject(header []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(header))
	notObject := func(err error) error {
		return fmt.Errorf("%w: header is not a JSON object: %v", ErrSafetensors, err)
	}
	if tok, err := dec.Token(); err != nil {
		return nil, notObject(err)
	} else if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, notObject(fmt.Errorf("starts with %s", describeToken(tok)))
	}
	raw := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, notObject(err)
		}
		name, _ := tok.(string)
		var msg json.RawMessage
		if err := dec.Decode(&msg); err != nil {
			return nil, notObject(err)
		}
		if _, dup := raw[name]; dup {
			return nil, fmt.Errorf("%w: tensor %q appears twice in the header", ErrSafetensors,
				name)
		}
		raw[name] = msg
	}
	if _, err := dec.Token(); err != nil {
		return nil, notObject(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, notObject(fmt.Errorf("data after the object"))
	}
	return raw, nil
}
