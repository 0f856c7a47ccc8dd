package mindspore

import (
	"fmt"

	"github.com/renasgo/renas/nn"
)

// dtypeInfo describes one MindSpore tensor_type: its element size in bytes and the
// safetensors dtype with the same encoding.
type dtypeInfo struct {
	size        int
	safetensors string
}

// dtypes lists every numeric tensor_type that MindSpore's save_checkpoint writes, spelled as
// its dtype objects print them (the case matters: "UInt8", not "Uint8").
var dtypes = map[string]dtypeInfo{
	"Float16":  {2, "F16"},
	"Float32":  {4, "F32"},
	"Float64":  {8, "F64"},
	"BFloat16": {2, "BF16"},
	"Int8":     {1, "I8"},
	"Int16":    {2, "I16"},
	"Int32":    {4, "I32"},
	"Int64":    {8, "I64"},
	"UInt8":    {1, "U8"},
	"UInt16":   {2, "U16"},
	"UInt32":   {4, "U32"},
	"UInt64":   {8, "U64"},
	"Bool":     {1, "BOOL"},
}

// DTypeString is the tensor_type of a string that save_checkpoint stores from append_dict. Its
// content is NumPy fixed-width unicode (UTF-32LE, 4 bytes per character) and its dims are [0].
const DTypeString = "str"

// dtypeRandomOp is the tensor_type of the opaque random-generator state that MindSpore 2.1 to
// 2.6 save on request. The reader skips such records.
const dtypeRandomOp = "random_op"

// ElementSize returns the size in bytes of one element of a MindSpore tensor_type, and false
// for a name that is not a numeric MindSpore type.
func ElementSize(dtype string) (int, bool) {
	info, ok := dtypes[dtype]
	return info.size, ok
}

// SafetensorsDType returns the safetensors dtype ("F32", "I64", "BOOL", ...) with the same
// encoding as a MindSpore tensor_type, and false when there is none (as for "str").
func SafetensorsDType(dtype string) (string, bool) {
	info, ok := dtypes[dtype]
	return info.safetensors, ok
}

// DTypeFromSafetensors returns the MindSpore tensor_type for a safetensors dtype, and false
// when MindSpore has no such type.
func DTypeFromSafetensors(dtype string) (string, bool) {
	for name, info := range dtypes {
		if info.safetensors == dtype {
			return name, true
		}
	}
	return "", false
}

// Raw returns t as an nn.RawTensor with the matching safetensors dtype. It shares t's data.
// A "str" tensor has no safetensors dtype and is an error.
func (t *Tensor) Raw() (nn.RawTensor, error) {
	dtype, ok := SafetensorsDType(t.DType)
	if !ok {
		return nn.RawTensor{}, fmt.Errorf("tensor %q has tensor_type %q, which has no "+
			"safetensors dtype", t.Name, t.DType)
	}
	shape := t.Shape
	if shape == nil {
		shape = []int{}
	}
	return nn.RawTensor{Name: t.Name, DType: dtype, Shape: shape, Data: t.Data}, nil
}

// FromRaw returns an nn.RawTensor as a checkpoint tensor with the matching MindSpore
// tensor_type. It shares t's data.
func FromRaw(t nn.RawTensor) (*Tensor, error) {
	dtype, ok := DTypeFromSafetensors(t.DType)
	if !ok {
		return nil, fmt.Errorf("tensor %q has dtype %q, which MindSpore has no type for",
			t.Name, t.DType)
	}
	return &Tensor{Name: t.Name, DType: dtype, Shape: t.Shape, Data: t.Data}, nil
}
