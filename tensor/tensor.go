// Package tensor provides a minimal dense tensor for the engine: a shape, an element type and
// contiguous row-major storage.
//
// Activations use the NCHW layout. For a tensor of shape [N, C, H, W] the element (n, c, h, w)
// sits at index ((n*C+c)*H+h)*W+w of the storage, so the strides in elements are
// [C*H*W, H*W, W, 1]:
//
//	n ──► image planes, C*H*W apart
//	  c ──► channel planes, H*W apart
//	    h ──► rows, W apart
//	      w ──► adjacent elements
package tensor

import (
	"errors"
	"fmt"
	"math"
)

// DType is the element type of a tensor.
type DType uint8

// Element types. Float16 and BFloat16 are storage types whose values are kept as raw 16-bit
// patterns; arithmetic is done in float32.
const (
	Float32 DType = iota
	Float16
	BFloat16
)

// String returns the safetensors name of the type ("F32", "F16", "BF16").
func (d DType) String() string {
	switch d {
	case Float32:
		return "F32"
	case Float16:
		return "F16"
	case BFloat16:
		return "BF16"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size returns the number of bytes of one element.
func (d DType) Size() int {
	if d == Float32 {
		return 4
	}
	return 2
}

// ErrShape is returned when a shape is invalid for the requested operation: a negative or
// overflowing dimension, or an element count that does not match the storage.
var ErrShape = errors.New("tensor: invalid shape")

// Shape lists the dimensions of a tensor, outermost first.
type Shape []int

// NumElements returns the product of the dimensions (1 for a scalar shape), or an error when
// a dimension is negative or the product overflows int.
func (s Shape) NumElements() (int, error) {
	n := 1
	for i, d := range s {
		if d < 0 {
			return 0, fmt.Errorf("%w: dimension %d is %d", ErrShape, i, d)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("%w: %v has more than %d elements", ErrShape, s, math.MaxInt)
		}
		n *= d
	}
	return n, nil
}

// Equal reports whether s and t have the same dimensions.
func (s Shape) Equal(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if s[i] != t[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy of s that shares no memory with it.
func (s Shape) Clone() Shape { return append(Shape(nil), s...) }

// String formats the shape as [d0 d1 ...].
func (s Shape) String() string { return fmt.Sprint([]int(s)) }

// Tensor is a dense tensor with contiguous row-major storage. Float32 tensors store their
// elements in a []float32; Float16 and BFloat16 tensors store raw bit patterns in a []uint16.
type Tensor struct {
	shape Shape
	dtype DType
	f32   []float32
	u16   []uint16
}

// New returns a zero-filled tensor of the given type and shape.
func New(dtype DType, shape ...int) (*Tensor, error) {
	n, err := Shape(shape).NumElements()
	if err != nil {
		return nil, err
	}
	t := &Tensor{shape: Shape(shape).Clone(), dtype: dtype}
	switch dtype {
	case Float32:
		t.f32 = make([]float32, n)
	case Float16, BFloat16:
		t.u16 = make([]uint16, n)
	default:
		return nil, fmt.Errorf("tensor: unsupported dtype %v", dtype)
	}
	return t, nil
}

// Zeros returns a zero-filled Float32 tensor. It panics on an invalid shape, so it is meant
// for shapes that the program computes itself.
func Zeros(shape ...int) *Tensor {
	t, err := New(Float32, shape...)
	if err != nil {
		panic(err)
	}
	return t
}

// FromFloat32 returns a Float32 tensor that uses data as its storage (no copy). The length of
// data must equal the product of the shape.
func FromFloat32(data []float32, shape ...int) (*Tensor, error) {
	n, err := Shape(shape).NumElements()
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, fmt.Errorf("%w: shape %v needs %d elements, data has %d",
			ErrShape, Shape(shape), n, len(data))
	}
	return &Tensor{shape: Shape(shape).Clone(), dtype: Float32, f32: data}, nil
}

// FromBits16 returns a Float16 or BFloat16 tensor that uses bits as its storage (no copy).
func FromBits16(dtype DType, bits []uint16, shape ...int) (*Tensor, error) {
	if dtype != Float16 && dtype != BFloat16 {
		return nil, fmt.Errorf("tensor: FromBits16 needs F16 or BF16, not %v", dtype)
	}
	n, err := Shape(shape).NumElements()
	if err != nil {
		return nil, err
	}
	if n != len(bits) {
		return nil, fmt.Errorf("%w: shape %v needs %d elements, data has %d",
			ErrShape, Shape(shape), n, len(bits))
	}
	return &Tensor{shape: Shape(shape).Clone(), dtype: dtype, u16: bits}, nil
}

// Shape returns the dimensions of t. The caller must not modify the result.
func (t *Tensor) Shape() Shape { return t.shape }

// DType returns the element type of t.
func (t *Tensor) DType() DType { return t.dtype }

// Rank returns the number of dimensions of t.
func (t *Tensor) Rank() int { return len(t.shape) }

// Dim returns dimension i of t.
func (t *Tensor) Dim(i int) int { return t.shape[i] }

// Len returns the number of elements of t.
func (t *Tensor) Len() int {
	if t.dtype == Float32 {
		return len(t.f32)
	}
	return len(t.u16)
}

// Float32s returns the storage of a Float32 tensor, or nil for other types.
func (t *Tensor) Float32s() []float32 { return t.f32 }

// Bits16 returns the raw storage of a Float16 or BFloat16 tensor, or nil for Float32.
func (t *Tensor) Bits16() []uint16 { return t.u16 }

// Reshape returns a tensor that shares t's storage under a new shape with the same number of
// elements.
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) {
	n, err := Shape(shape).NumElements()
	if err != nil {
		return nil, err
	}
	if n != t.Len() {
		return nil, fmt.Errorf("%w: cannot reshape %v (%d elements) to %v",
			ErrShape, t.shape, t.Len(), Shape(shape))
	}
	return &Tensor{shape: Shape(shape).Clone(), dtype: t.dtype, f32: t.f32, u16: t.u16}, nil
}

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{shape: t.shape.Clone(), dtype: t.dtype}
	if t.f32 != nil {
		c.f32 = append([]float32(nil), t.f32...)
	}
	if t.u16 != nil {
		c.u16 = append([]uint16(nil), t.u16...)
	}
	return c
}

// Strides returns the row-major strides of t in elements.
func (t *Tensor) Strides() []int {
	s := make([]int, len(t.shape))
	step := 1
	for i := len(t.shape) - 1; i >= 0; i-- {
		s[i] = step
		step *= t.shape[i]
	}
	return s
}

// ToFloat32 returns t converted to Float32; a Float32 tensor is returned as it is.
func (t *Tensor) ToFloat32() *Tensor {
	if t.dtype == Float32 {
		return t
	}
	out := make([]float32, len(t.u16))
	conv := Float16ToFloat32
	if t.dtype == BFloat16 {
		conv = BFloat16ToFloat32
	}
	for i, b := range t.u16 {
		out[i] = conv(b)
	}
	return &Tensor{shape: t.shape.Clone(), dtype: Float32, f32: out}
}

// NCHW returns the four dimensions of a rank-4 tensor, or an error naming the shape.
func (t *Tensor) NCHW() (n, c, h, w int, err error) {
	if len(t.shape) != 4 {
		return 0, 0, 0, 0, fmt.Errorf("%w: want NCHW (rank 4), got %v", ErrShape, t.shape)
	}
	return t.shape[0], t.shape[1], t.shape[2], t.shape[3], nil
}
