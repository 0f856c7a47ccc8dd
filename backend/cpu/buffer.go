package cpu

import (
	"fmt"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/tensor"
)

// Buffer is an NCHW batch in host memory. Image i occupies the C·H·W contiguous elements
// that start at i·batchStride; batchStride exceeds C·H·W for a channel view.
type Buffer struct {
	n, c, h, w  int
	batchStride int
	data        []float32
}

// Shape returns [N, C, H, W].
func (b *Buffer) Shape() tensor.Shape { return tensor.Shape{b.n, b.c, b.h, b.w} }

// image returns the C·H·W elements of image i.
func (b *Buffer) image(i int) []float32 {
	off := i * b.batchStride
	return b.data[off : off+b.c*b.h*b.w]
}

func asBuffer(b backend.Buffer) (*Buffer, error) {
	c, ok := b.(*Buffer)
	if !ok || c == nil {
		return nil, fmt.Errorf("cpu backend: buffer of type %T was not made by this backend", b)
	}
	return c, nil
}

// asBuffers returns the input and output buffers of an op.
func asBuffers(xb, yb backend.Buffer) (x, y *Buffer, err error) {
	if x, err = asBuffer(xb); err != nil {
		return nil, nil, err
	}
	if y, err = asBuffer(yb); err != nil {
		return nil, nil, err
	}
	return x, y, nil
}

// checkShape returns an error naming the op when b does not have the wanted shape.
func checkShape(op, which string, b *Buffer, want tensor.Shape) error {
	if !b.Shape().Equal(want) {
		return fmt.Errorf("%s: %s shape %v, want %v", op, which, b.Shape(), want)
	}
	return nil
}
