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

// dims returns the shape of b as an array, which compares without allocating.
func dims(b *Buffer) [4]int { return [4]int{b.n, b.c, b.h, b.w} }

// shapeCache remembers the input and output shapes of the last few Runs of an op that passed
// their checks, so that a Run with the same shapes skips them, and their allocations. One op
// may run at several sizes, such as a pooling layer shared by the stages of a network.
type shapeCache struct {
	entries [4]shapeEntry
	next    int // the entry that store replaces
}

type shapeEntry struct {
	valid   bool
	in, out [4]int
	// padTop and padLeft are the padding that a pooling op computed with its check.
	padTop, padLeft int
}

// lookup returns the entry for the shapes of x and y, or nil when they were not checked.
func (c *shapeCache) lookup(x, y *Buffer) *shapeEntry {
	in, out := dims(x), dims(y)
	for i := range c.entries {
		if e := &c.entries[i]; e.valid && e.in == in && e.out == out {
			return e
		}
	}
	return nil
}

// store records the shapes of x and y as checked and returns their entry.
func (c *shapeCache) store(x, y *Buffer) *shapeEntry {
	e := &c.entries[c.next]
	c.next = (c.next + 1) % len(c.entries)
	*e = shapeEntry{valid: true, in: dims(x), out: dims(y)}
	return e
}

// checkShape returns an error naming the op when b does not have the wanted shape.
func checkShape(op, which string, b *Buffer, want tensor.Shape) error {
	if !b.Shape().Equal(want) {
		return fmt.Errorf("%s: %s shape %v, want %v", op, which, b.Shape(), want)
	}
	return nil
}
