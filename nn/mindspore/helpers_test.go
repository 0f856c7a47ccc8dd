package mindspore

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// sampleTensors returns one tensor of every numeric type, a 0-d tensor, a zero-size tensor
// and a string.
func sampleTensors() []*Tensor {
	var out []*Tensor
	names := []string{"Float16", "Float32", "Float64", "BFloat16", "Int8", "Int16", "Int32",
		"Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Bool"}
	for i, dtype := range names {
		size, _ := ElementSize(dtype)
		data := make([]byte, 2*3*size)
		for j := range data {
			data[j] = byte(i*31 + j*7)
		}
		if dtype == "Bool" {
			data = []byte{0, 1, 1, 0, 1, 0}
		}
		out = append(out, &Tensor{Name: "t." + dtype, DType: dtype, Shape: []int{2, 3},
			Data: data})
	}
	out = append(out,
		&Tensor{Name: "learning_rate", DType: "Float64", Data: []byte{
			0xfc, 0xa9, 0xf1, 0xd2, 0x4d, 0x62, 0x50, 0x3f}},
		&Tensor{Name: "empty", DType: "Float32", Shape: []int{0}, Data: []byte{}},
		&Tensor{Name: "global_step", DType: "Int32", Shape: []int{1}, Data: []byte{7, 0, 0, 0}},
		&Tensor{Name: "note", DType: DTypeString, Data: []byte{'h', 0, 0, 0, 'i', 0, 0, 0}},
	)
	return out
}

// encodeTensor returns a serialized TensorProto. With packed set, dims use the packed form.
func encodeTensor(dims []uint64, dtype string, content []byte, packed bool) []byte {
	var b []byte
	if packed && len(dims) > 0 {
		var p []byte
		for _, d := range dims {
			p = protowire.AppendVarint(p, d)
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, p)
	} else {
		for _, d := range dims {
			b = protowire.AppendTag(b, 1, protowire.VarintType)
			b = protowire.AppendVarint(b, d)
		}
	}
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, dtype)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	return protowire.AppendBytes(b, content)
}

// encodeValue returns a serialized Checkpoint.Value with the given tag and TensorProto.
func encodeValue(name string, tensorProto []byte) []byte {
	var v []byte
	v = protowire.AppendTag(v, 1, protowire.BytesType)
	v = protowire.AppendString(v, name)
	v = protowire.AppendTag(v, 2, protowire.BytesType)
	return protowire.AppendBytes(v, tensorProto)
}

// record returns a top-level Checkpoint message that holds one Value.
func record(name string, tensorProto []byte) []byte {
	return topLevel(encodeValue(name, tensorProto))
}

// topLevel wraps a serialized Value as Checkpoint field 1.
func topLevel(value []byte) []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	return protowire.AppendBytes(b, value)
}

func requireSameTensors(t *testing.T, want, got []*Tensor) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("got %d tensors, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.Name != g.Name || w.DType != g.DType || !sameShape(w.Shape, g.Shape) ||
			!bytes.Equal(w.Data, g.Data) {
			t.Fatalf("tensor %d: got %q %s %v (%d bytes), want %q %s %v (%d bytes)", i,
				g.Name, g.DType, g.Shape, len(g.Data), w.Name, w.DType, w.Shape, len(w.Data))
		}
	}
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
