// Package cpu implements the backend interface on the host CPU with the SIMD kernels of
// package kernels. Importing it registers the "CPU" platform.
package cpu

import (
	"fmt"
	"runtime"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/tensor"
)

func init() {
	backend.Register(backend.PlatformCPU, func(opt backend.Options) (backend.Backend, error) {
		return NewWithOptions(opt)
	})
}

var _ backend.Trainer = (*Backend)(nil)

// Backend runs layers on the host with a fixed number of worker goroutines.
type Backend struct {
	threads  int
	winograd bool // 3×3 convolutions may run on the Winograd path
	bf16     bool // convolutions of inference run their products in bf16
	pool     *workerPool
}

// New returns a CPU backend with the given number of threads; 0 means runtime.GOMAXPROCS(0).
func New(threads int) (*Backend, error) {
	return NewWithOptions(backend.Options{Threads: threads})
}

// NewWithOptions returns a CPU backend configured by opt; DeviceID is ignored.
func NewWithOptions(opt backend.Options) (*Backend, error) {
	threads := opt.Threads
	if threads < 0 || threads > backend.MaxThreads {
		return nil, fmt.Errorf("cpu backend: threads must be from 0 to %d, got %d",
			backend.MaxThreads, threads)
	}
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if opt.BF16 && !kernels.HasBF16() {
		return nil, fmt.Errorf("cpu backend: %w: the CPU lacks AVX512_BF16 or the build "+
			"has the noasm tag", backend.ErrNoBF16)
	}
	b := &Backend{threads: threads, winograd: !opt.DirectConv, bf16: opt.BF16}
	attachPool(b)
	return b, nil
}

// Threads returns the number of worker goroutines.
func (b *Backend) Threads() int { return b.threads }

// BF16 reports whether the backend runs its convolution products in bf16.
func (b *Backend) BF16() bool { return b.bf16 }

// Platform returns "CPU".
func (b *Backend) Platform() string { return backend.PlatformCPU }

// Describe returns the kernel path and the thread count.
func (b *Backend) Describe() string {
	unit := "threads"
	if b.threads == 1 {
		unit = "thread"
	}
	path := kernels.Path()
	if b.bf16 {
		path += " with bf16 convolutions"
	}
	return fmt.Sprintf("CPU (kernels: %s, %d %s)", path, b.threads, unit)
}

// Supports reports true for every operation kind.
func (b *Backend) Supports(backend.OpKind) bool { return true }

// Sync returns at once: every CPU op has finished when its Run returns.
func (b *Backend) Sync() error { return nil }

// Close stops the worker goroutines; buffers are garbage collected. The backend must not be
// used after Close.
func (b *Backend) Close() error {
	b.pool.stop()
	return nil
}

// NewBuffer allocates a zero-filled NCHW batch.
func (b *Backend) NewBuffer(n, c, h, w int) (backend.Buffer, error) {
	size, err := tensor.Shape{n, c, h, w}.NumElements()
	if err != nil {
		return nil, fmt.Errorf("cpu backend: buffer: %w", err)
	}
	return &Buffer{n: n, c: c, h: h, w: w, batchStride: c * h * w,
		data: make([]float32, size)}, nil
}

// ChannelView returns a buffer that aliases channels [c0, c1) of buf.
func (b *Backend) ChannelView(buf backend.Buffer, c0, c1 int) (backend.Buffer, error) {
	p, err := asBuffer(buf)
	if err != nil {
		return nil, err
	}
	if c0 < 0 || c1 > p.c || c0 >= c1 {
		return nil, fmt.Errorf("cpu backend: channel view [%d, %d) of a %d-channel buffer",
			c0, c1, p.c)
	}
	plane := p.h * p.w
	end := (p.n-1)*p.batchStride + c1*plane
	return &Buffer{n: p.n, c: c1 - c0, h: p.h, w: p.w, batchStride: p.batchStride,
		data: p.data[c0*plane : end]}, nil
}

// Upload copies a host tensor of the buffer's shape into dst.
func (b *Backend) Upload(dst backend.Buffer, src *tensor.Tensor) error {
	d, err := asBuffer(dst)
	if err != nil {
		return err
	}
	if !src.Shape().Equal(d.Shape()) {
		return fmt.Errorf("cpu backend: upload of %v into a %v buffer", src.Shape(), d.Shape())
	}
	s := src.ToFloat32().Float32s()
	per := d.c * d.h * d.w
	for i := range d.n {
		copy(d.image(i), s[i*per:(i+1)*per])
	}
	return nil
}

// Download copies src into a host Float32 tensor with as many elements.
func (b *Backend) Download(dst *tensor.Tensor, src backend.Buffer) error {
	s, err := asBuffer(src)
	if err != nil {
		return err
	}
	per := s.c * s.h * s.w
	if dst.DType() != tensor.Float32 || dst.Len() != s.n*per {
		return fmt.Errorf("cpu backend: download of a %v buffer into a %v %v tensor",
			s.Shape(), dst.DType(), dst.Shape())
	}
	d := dst.Float32s()
	for i := range s.n {
		copy(d[i*per:(i+1)*per], s.image(i))
	}
	return nil
}

// Concat copies xs, in order, into consecutive channel ranges of y.
func (b *Backend) Concat(y backend.Buffer, xs ...backend.Buffer) error {
	dst, err := asBuffer(y)
	if err != nil {
		return err
	}
	c := 0
	srcs := make([]*Buffer, len(xs))
	for k, x := range xs {
		s, err := asBuffer(x)
		if err != nil {
			return err
		}
		if s.n != dst.n || s.h != dst.h || s.w != dst.w {
			return fmt.Errorf("cpu backend: concat input %d is %v, output is %v",
				k, s.Shape(), dst.Shape())
		}
		srcs[k] = s
		c += s.c
	}
	if c != dst.c {
		return fmt.Errorf("cpu backend: concat inputs have %d channels, output has %d", c, dst.c)
	}
	b.parallelFor(dst.n, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			out := dst.image(i)
			off := 0
			for _, s := range srcs {
				off += copy(out[off:], s.image(i))
			}
		}
	})
	return nil
}
