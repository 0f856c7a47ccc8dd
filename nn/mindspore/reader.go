// Package mindspore reads and writes MindSpore checkpoint files (.ckpt).
//
// A .ckpt file is a series of serialized protobuf messages of MindSpore's checkpoint.proto
// (proto2, no package), with no header and no magic number:
//
//	message Checkpoint {
//	  message Value {
//	    required string tag = 1;           // the parameter name
//	    optional TensorProto tensor = 2;   // one branch of a oneof since MindSpore 2.0
//	    optional MapTensorProto maptensor = 3;
//	  }
//	  repeated Value value = 1;
//	  optional string model_type = 2;      // only in MindSpore 0.5.0-beta
//	}
//	message TensorProto {
//	  repeated int64 dims = 1;             // written unpacked
//	  required string tensor_type = 2;     // "Float32", "Int64", "Bool", ...
//	  required bytes tensor_content = 3;   // little-endian elements in row-major order
//	}
//
// save_checkpoint writes one Checkpoint message per Value, so the file parses as a single
// Checkpoint. A tensor larger than 512 MiB is written as several consecutive Values with the
// same tag, each repeating dims and tensor_type and holding one slice of the content. A 0-d
// tensor has dims [0] (MindSpore 2.2 and older) or no dims (2.3 and newer). MindSpore 2.3
// added an optional trailer: the 7 bytes "crc_num" and the CRC-32 (IEEE) of the preceding
// bytes as a 10-byte big-endian integer.
package mindspore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/renasgo/renas/tensor"
)

// Tensor is one named tensor of a checkpoint, kept as its raw bytes.
type Tensor struct {
	Name string
	// DType is the MindSpore tensor_type: a name listed by ElementSize, or DTypeString.
	DType string
	// Shape lists the dimensions, outermost first. It is empty for a 0-d tensor.
	Shape []int
	// Data contains the elements, little-endian in row-major order.
	Data []byte
}

// NumElements returns the number of elements of t (1 for a 0-d tensor). Data is not checked.
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// ErrFormat is wrapped by every error about a malformed checkpoint.
var ErrFormat = errors.New("invalid MindSpore checkpoint")

// ErrEncrypted is returned for a checkpoint that save_checkpoint encrypted with enc_key.
var ErrEncrypted = errors.New("encrypted checkpoint: decryption is not supported")

// MaxRank is the largest number of dimensions that the reader accepts. It bounds the memory
// that a hostile dims list can take, far above the 5 of a Conv3d weight.
const MaxRank = 64

const (
	crcTrailerMagic = "crc_num"
	crcTrailerSize  = len(crcTrailerMagic) + 10
)

// Magic numbers that begin each 64 MiB block of an encrypted checkpoint, read as a
// little-endian uint32: AES-GCM, AES-CBC and SM4-CBC.
var encryptionMagics = []uint32{0x7F3A5ED8, 0x7F3A5ED9, 0x7F3A5EDA}

// Reader reads the tensors of a checkpoint one at a time, so a caller that handles each
// tensor and drops it needs memory for about two tensors, not for the whole file.
type Reader struct {
	br        *bufio.Reader
	remaining int64 // bytes of the protobuf stream not yet consumed
	offset    int64 // position of the next unconsumed byte in the file

	crc     hash.Hash32 // nil when the file has no CRC trailer
	wantCRC uint32

	pending *Tensor // a record read ahead to see whether it continues the previous tensor
	done    bool
}

// NewReader returns a reader of the checkpoint r of size bytes. It checks the start of the
// file and reads the CRC trailer, if there is one, which Next verifies when it reaches the
// end. It returns ErrEncrypted for an encrypted file, and an error wrapping ErrFormat for a
// file that cannot be a checkpoint.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: negative size %d", ErrFormat, size)
	}
	var head [4]byte
	n, err := r.ReadAt(head[:min(size, 4)], 0)
	if int64(n) < min(size, 4) {
		return nil, fmt.Errorf("reading the first bytes: %w", err)
	}
	if size >= 4 {
		magic := binary.LittleEndian.Uint32(head[:])
		for _, m := range encryptionMagics {
			if magic == m {
				return nil, ErrEncrypted
			}
		}
	}

	rd := &Reader{remaining: size}
	if size >= int64(crcTrailerSize) {
		var trailer [crcTrailerSize]byte
		// A ReaderAt may return io.EOF with a full read at the end of its input.
		if n, err := r.ReadAt(trailer[:], size-int64(crcTrailerSize)); n < len(trailer) {
			return nil, fmt.Errorf("reading the CRC trailer: %w", err)
		}
		if string(trailer[:len(crcTrailerMagic)]) == crcTrailerMagic {
			value := trailer[len(crcTrailerMagic):]
			if !allZero(value[:6]) {
				return nil, fmt.Errorf("%w: CRC trailer value 0x%x does not fit in 32 bits",
					ErrFormat, value)
			}
			rd.wantCRC = binary.BigEndian.Uint32(value[6:])
			rd.crc = crc32.NewIEEE()
			rd.remaining = size - int64(crcTrailerSize)
		}
	}

	// A Checkpoint starts with a Value (tag 0x0a) or, in 0.5.0-beta, may start with
	// model_type (0x12). Parallel strategy files, also named .ckpt, start with 0x08.
	if rd.remaining > 0 && head[0] != 0x0a && head[0] != 0x12 {
		// A .safetensors file starts with an 8-byte header length, then its JSON header.
		var brace [1]byte
		if size > 8 {
			if _, err := r.ReadAt(brace[:], 8); err == nil && brace[0] == '{' {
				return nil, fmt.Errorf("%w: this is a .safetensors file: give it the "+
					".safetensors extension", ErrFormat)
			}
		}
		return nil, fmt.Errorf("%w: first byte is 0x%02x, expected 0x0a "+
			"(is it a parallel strategy file or another format?)", ErrFormat, head[0])
	}
	var src io.Reader = io.NewSectionReader(r, 0, rd.remaining)
	if rd.crc != nil {
		src = io.TeeReader(src, rd.crc)
	}
	rd.br = bufio.NewReaderSize(src, int(min(rd.remaining, 64<<10)))
	return rd, nil
}

// HasCRC reports whether the file ends with a CRC trailer.
func (r *Reader) HasCRC() bool { return r.crc != nil }

// Next returns the next tensor, with consecutive records of the same name joined into one.
// It returns io.EOF after the last tensor, once the CRC, if present, has been verified.
// "random_op" records and Values that hold only a map tensor are skipped. Every other error
// wraps ErrFormat and gives the byte offset of the record at fault.
func (r *Reader) Next() (*Tensor, error) {
	first := r.pending
	r.pending = nil
	if first == nil {
		if r.done {
			return nil, io.EOF
		}
		var err error
		if first, err = r.readRecord(); err != nil {
			return nil, err
		}
	}
	t := first
	joined := false
	for !r.done {
		next, err := r.readRecord()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if next.Name != t.Name {
			r.pending = next
			break
		}
		if next.DType != t.DType {
			return nil, fmt.Errorf("%w: tensor %q is split into pieces of types %s and %s",
				ErrFormat, t.Name, t.DType, next.DType)
		}
		// As in MindSpore's loader, the contents of the pieces are concatenated in file
		// order and the dims come from the last piece. The buffer is sized once from those
		// dims, so joining needs memory for the tensor and one piece, not twice the tensor.
		data := t.Data
		if !joined {
			data = make([]byte, 0, r.joinCapacity(t, next))
			data = append(data, t.Data...)
			joined = true
		}
		t = &Tensor{Name: t.Name, DType: t.DType, Shape: next.Shape,
			Data: append(data, next.Data...)}
	}
	if err := checkSize(t); err != nil {
		return nil, err
	}
	return t, nil
}

// joinCapacity returns the buffer size for a split tensor whose first two pieces are a and
// b: the size that b's dims call for, or less when the rest of the file could not hold it.
func (r *Reader) joinCapacity(a, b *Tensor) int {
	have := len(a.Data) + len(b.Data)
	size, ok := ElementSize(b.DType)
	count, err := tensor.Shape(b.Shape).NumElements()
	if !ok || err != nil || count > math.MaxInt/size {
		return have
	}
	return max(have, int(min(int64(count*size), int64(have)+r.remaining)))
}

// checkSize checks that the content of t matches its shape and type, and turns dims [0]
// with one element of content into the 0-d shape.
func checkSize(t *Tensor) error {
	if t.DType == DTypeString {
		if len(t.Data)%4 != 0 {
			return fmt.Errorf("%w: string %q has %d bytes, not a multiple of 4 (UTF-32)",
				ErrFormat, t.Name, len(t.Data))
		}
		if len(t.Shape) == 1 && t.Shape[0] == 0 {
			t.Shape = nil
		}
		return nil
	}
	size, ok := ElementSize(t.DType)
	if !ok {
		return fmt.Errorf("%w: tensor %q has unsupported tensor_type %q", ErrFormat, t.Name,
			t.DType)
	}
	if len(t.Shape) == 1 && t.Shape[0] == 0 && len(t.Data) == size {
		t.Shape = nil
	}
	count, err := tensor.Shape(t.Shape).NumElements()
	if err != nil || count > math.MaxInt/size {
		return fmt.Errorf("%w: tensor %q has invalid dims %v", ErrFormat, t.Name, t.Shape)
	}
	if count*size != len(t.Data) {
		return fmt.Errorf("%w: tensor %q has %d bytes of content, but dims %v of %s need %d",
			ErrFormat, t.Name, len(t.Data), t.Shape, t.DType, count*size)
	}
	return nil
}

// readRecord returns the tensor of the next top-level Value, skipping other top-level
// fields, random_op records and map tensors. At the end of the stream it verifies the CRC
// and returns io.EOF.
func (r *Reader) readRecord() (*Tensor, error) {
	for {
		if r.remaining == 0 {
			r.done = true
			if r.crc != nil && r.crc.Sum32() != r.wantCRC {
				return nil, fmt.Errorf("%w: CRC-32 is 0x%08x, the trailer expects 0x%08x",
					ErrFormat, r.crc.Sum32(), r.wantCRC)
			}
			return nil, io.EOF
		}
		start := r.offset
		num, typ, body, err := r.readField()
		if err != nil {
			return nil, fmt.Errorf("%w: at byte %d: %v", ErrFormat, start, err)
		}
		if num != 1 || typ != protowire.BytesType {
			continue // model_type or an unknown field
		}
		t, err := parseValue(body)
		if err != nil {
			return nil, fmt.Errorf("%w: value at byte %d: %v", ErrFormat, start, err)
		}
		if t != nil {
			return t, nil
		}
	}
}

// readField consumes one top-level field from the stream and returns its number, wire type
// and, for a field 1 of type bytes, its contents. The contents of any other length-delimited
// field are skipped without being held in memory.
func (r *Reader) readField() (protowire.Number, protowire.Type, []byte, error) {
	// A tag and a length are two varints of at most 10 bytes each.
	peek, err := r.br.Peek(int(min(r.remaining, 2*binary.MaxVarintLen64)))
	if err != nil {
		return 0, 0, nil, err
	}
	num, typ, n := protowire.ConsumeTag(peek)
	if n < 0 {
		return 0, 0, nil, protowire.ParseError(n)
	}
	var skip int64
	switch typ {
	case protowire.VarintType:
		_, m := protowire.ConsumeVarint(peek[n:])
		if m < 0 {
			return 0, 0, nil, protowire.ParseError(m)
		}
		n += m
	case protowire.Fixed32Type:
		skip = 4
	case protowire.Fixed64Type:
		skip = 8
	case protowire.BytesType:
		length, m := protowire.ConsumeVarint(peek[n:])
		if m < 0 {
			return 0, 0, nil, protowire.ParseError(m)
		}
		n += m
		if length > uint64(r.remaining-int64(n)) {
			return 0, 0, nil, fmt.Errorf("the file is truncated: field %d is %d bytes long, "+
				"but only %d bytes remain", num, length, r.remaining-int64(n))
		}
		skip = int64(length)
	default:
		return 0, 0, nil, fmt.Errorf("field %d has wire type %d, which a checkpoint does "+
			"not use at the top level", num, typ)
	}
	if skip > r.remaining-int64(n) {
		return 0, 0, nil, fmt.Errorf("field %d runs past the end of the file", num)
	}

	r.consume(int64(n))
	if _, err := r.br.Discard(n); err != nil {
		return 0, 0, nil, err
	}
	if num == 1 && typ == protowire.BytesType {
		body := make([]byte, skip)
		if _, err := io.ReadFull(r.br, body); err != nil {
			return 0, 0, nil, err
		}
		r.consume(skip)
		return num, typ, body, nil
	}
	if _, err := r.br.Discard(int(skip)); err != nil {
		return 0, 0, nil, err
	}
	r.consume(skip)
	return num, typ, nil, nil
}

func (r *Reader) consume(n int64) {
	r.remaining -= n
	r.offset += n
}

// parseValue decodes a Checkpoint.Value. It returns nil, nil for a Value to skip: a
// random_op record, or one that holds only a map tensor.
func parseValue(b []byte) (*Tensor, error) {
	var (
		name            string
		hasName, hasMap bool
		tensorBytes     []byte
		hasTensor       bool
	)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if num >= 1 && num <= 3 && typ != protowire.BytesType {
			return nil, fmt.Errorf("field %d has wire type %d, expected bytes", num, typ)
		}
		switch num {
		case 1, 2, 3:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			b = b[m:]
			switch num {
			case 1:
				name, hasName = string(v), true
			case 2:
				tensorBytes, hasTensor = v, true
			case 3:
				hasMap = true
			}
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			b = b[m:]
		}
	}
	switch {
	case !hasName:
		return nil, errors.New("the parameter name (tag) is missing")
	case name == "":
		return nil, errors.New("the parameter name (tag) is empty")
	case !hasTensor && hasMap:
		return nil, nil
	case !hasTensor:
		return nil, fmt.Errorf("%q has no tensor", name)
	}
	t, err := parseTensor(tensorBytes)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %v", name, err)
	}
	if t.DType == dtypeRandomOp {
		return nil, nil
	}
	t.Name = name
	return t, nil
}

// parseTensor decodes a TensorProto. Dims may be unpacked (as MindSpore writes them) or
// packed. The content is a sub-slice of b, not a copy.
func parseTensor(b []byte) (*Tensor, error) {
	t := &Tensor{}
	hasType := false
	addDim := func(v uint64) error {
		if int64(v) < 0 || int64(v) > math.MaxInt {
			return fmt.Errorf("dimension %d is out of range", int64(v))
		}
		if len(t.Shape) == MaxRank {
			return fmt.Errorf("more than %d dimensions", MaxRank)
		}
		t.Shape = append(t.Shape, int(v))
		return nil
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			b = b[m:]
			if err := addDim(v); err != nil {
				return nil, err
			}
		case num == 1 && typ == protowire.BytesType:
			packed, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			b = b[m:]
			for len(packed) > 0 {
				v, k := protowire.ConsumeVarint(packed)
				if k < 0 {
					return nil, protowire.ParseError(k)
				}
				packed = packed[k:]
				if err := addDim(v); err != nil {
					return nil, err
				}
			}
		case (num == 2 || num == 3) && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			b = b[m:]
			if num == 2 {
				t.DType, hasType = string(v), true
			} else {
				t.Data = v
			}
		case num >= 1 && num <= 3:
			return nil, fmt.Errorf("TensorProto field %d has wire type %d", num, typ)
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			b = b[m:]
		}
	}
	if !hasType {
		return nil, errors.New("tensor_type is missing")
	}
	return t, nil
}

// ReadAll reads every tensor of the checkpoint r of size bytes, in file order.
func ReadAll(r io.ReaderAt, size int64) ([]*Tensor, error) {
	rd, err := NewReader(r, size)
	if err != nil {
		return nil, err
	}
	var out []*Tensor
	seen := map[string]bool{}
	for {
		t, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("%w: tensor %q appears twice; only the consecutive "+
				"records of a split tensor may share a name", ErrFormat, t.Name)
		}
		seen[t.Name] = true
		out = append(out, t)
	}
}

// ReadFile reads every tensor of a checkpoint file, in file order. Errors name the file.
func ReadFile(path string) ([]*Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: %w: a folder, not a file", path, ErrFormat)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w: not a regular file", path, ErrFormat)
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("%s: %w: empty file", path, ErrFormat)
	}
	ts, err := ReadAll(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ts, nil
}

func allZero(b []byte) bool {
	return bytes.Count(b, []byte{0}) == len(b)
}
