package mindspore

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/renasgo/renas/nn"
)

// maxPieceBytes is the content size above which Write splits a tensor into several Values,
// as MindSpore 2.3 and newer do: fixed 512 MiB slices of the raw bytes, which keeps every
// protobuf message far below protobuf's 2 GiB limit. Tests lower it.
var maxPieceBytes = 512 << 20

// WriteOptions selects optional parts of a written checkpoint.
type WriteOptions struct {
	// CRC appends the trailer of save_checkpoint(..., crc_check=True): "crc_num" and the
	// CRC-32 of the file before it. MindSpore 2.2 and older cannot load such a file.
	CRC bool
}

// Write writes tensors, in the given order, as save_checkpoint does: one Checkpoint message
// per Value, dims unpacked, and a 0-d tensor with dims [0], which every MindSpore version
// loads as a scalar. It checks every tensor before writing anything.
func Write(w io.Writer, tensors []*Tensor, opt WriteOptions) error {
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		if err := checkWritable(t); err != nil {
			return err
		}
		if seen[t.Name] {
			return fmt.Errorf("mindspore: tensor %q appears twice", t.Name)
		}
		seen[t.Name] = true
	}
	bw := bufio.NewWriter(w)
	var out io.Writer = bw
	crc := crc32.NewIEEE()
	if opt.CRC {
		out = io.MultiWriter(bw, crc)
	}
	for _, t := range tensors {
		if err := writeTensor(out, t); err != nil {
			return err
		}
	}
	if opt.CRC {
		var trailer [crcTrailerSize]byte
		copy(trailer[:], crcTrailerMagic)
		binary.BigEndian.PutUint32(trailer[crcTrailerSize-4:], crc.Sum32())
		if _, err := bw.Write(trailer[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteFile writes tensors to path atomically, as Write does: a failure leaves any existing
// file at path unchanged.
func WriteFile(path string, tensors []*Tensor, opt WriteOptions) error {
	return nn.WriteFileAtomic(path, func(w io.Writer) error { return Write(w, tensors, opt) })
}

func checkWritable(t *Tensor) error {
	if t.Name == "" {
		return fmt.Errorf("mindspore: a tensor has an empty name")
	}
	if t.DType == dtypeRandomOp {
		return fmt.Errorf("mindspore: tensor %q: random_op records are not written", t.Name)
	}
	c := *t
	c.Shape = append([]int(nil), t.Shape...)
	if err := checkSize(&c); err != nil {
		return fmt.Errorf("mindspore: %w", err)
	}
	return nil
}

// writeTensor writes t as one Value, or as several when its content exceeds maxPieceBytes.
// Each piece repeats the full dims and the tensor_type.
func writeTensor(w io.Writer, t *Tensor) error {
	dims := t.Shape
	if len(dims) == 0 {
		dims = []int{0}
	}
	data := t.Data
	for first := true; first || len(data) > 0; first = false {
		piece := data[:min(len(data), maxPieceBytes)]
		data = data[len(piece):]
		if err := writeValue(w, t.Name, t.DType, dims, piece); err != nil {
			return err
		}
	}
	return nil
}

// writeValue writes one Checkpoint message that holds a single Value. The content is written
// straight from data, not copied into the message buffer.
func writeValue(w io.Writer, name, dtype string, dims []int, data []byte) error {
	tensorSize := protowire.SizeTag(2) + protowire.SizeBytes(len(dtype)) +
		protowire.SizeTag(3) + protowire.SizeBytes(len(data))
	for _, d := range dims {
		tensorSize += protowire.SizeTag(1) + protowire.SizeVarint(uint64(d))
	}
	valueSize := protowire.SizeTag(1) + protowire.SizeBytes(len(name)) +
		protowire.SizeTag(2) + protowire.SizeBytes(tensorSize)

	b := make([]byte, 0, 64+len(name)+len(dtype)+11*len(dims))
	b = protowire.AppendTag(b, 1, protowire.BytesType) // Checkpoint.value
	b = protowire.AppendVarint(b, uint64(valueSize))
	b = protowire.AppendTag(b, 1, protowire.BytesType) // Value.tag
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, 2, protowire.BytesType) // Value.tensor
	b = protowire.AppendVarint(b, uint64(tensorSize))
	for _, d := range dims {
		b = protowire.AppendTag(b, 1, protowire.VarintType) // TensorProto.dims
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, 2, protowire.BytesType) // TensorProto.tensor_type
	b = protowire.AppendString(b, dtype)
	b = protowire.AppendTag(b, 3, protowire.BytesType) // TensorProto.tensor_content
	b = protowire.AppendVarint(b, uint64(len(data)))
	if _, err := w.Write(b); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}
