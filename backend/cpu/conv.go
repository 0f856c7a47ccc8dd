package cpu

import (
	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/tensor"
)

// conv2D computes a convolution of one image as the product of the packed weight matrix
// [OutChannels, InChannels·KernelH·KernelW] and the image's im2col matrix, followed by the
// bias and activation in one pass over the output. A 1×1 convolution with stride 1 and no
// padding multiplies the weight by the image itself.
type conv2D struct {
	b       *Backend
	d       backend.Conv2DDesc
	weight  *kernels.PackedA
	bias    []float32
	direct  bool        // the input is its own im2col matrix
	scratch [][]float32 // one im2col matrix per worker, grown on demand
}

// NewConv2D plans a convolution and packs its weight.
func (b *Backend) NewConv2D(d backend.Conv2DDesc, weight, bias *tensor.Tensor) (backend.Op,
	error) {
	if err := backend.CheckConv2DDesc(d, weight, bias); err != nil {
		return nil, err
	}
	k := d.InChannels * d.KernelH * d.KernelW
	op := &conv2D{
		b:      b,
		d:      d,
		weight: kernels.PackA(d.OutChannels, k, weight.ToFloat32().Float32s(), k),
		bias:   make([]float32, d.OutChannels),
		direct: d.KernelH == 1 && d.KernelW == 1 && d.StrideH == 1 && d.StrideW == 1 &&
			d.PadH == 0 && d.PadW == 0,
		scratch: make([][]float32, b.threads),
	}
	if bias != nil {
		copy(op.bias, bias.ToFloat32().Float32s())
	}
	return op, nil
}

func (op *conv2D) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	return backend.ConvOutputShape(op.d, in)
}

func (op *conv2D) Run(xb, yb backend.Buffer) error {
	x, y, err := asBuffers(xb, yb)
	if err != nil {
		return err
	}
	want, err := op.OutputShape(x.Shape())
	if err != nil {
		return err
	}
	if err := checkShape("conv2d", "output", y, want); err != nil {
		return err
	}
	cols := want[2] * want[3]
	if x.n >= op.b.threads {
		op.b.parallelFor(x.n, func(worker, lo, hi int) {
			for i := lo; i < hi; i++ {
				op.image(worker, x, y, i, cols)
			}
		})
		return nil
	}
	// Fewer images than threads: split each image's output columns across the workers.
	const block = 64
	blocks := (cols + block - 1) / block
	for i := range x.n {
		var in []float32
		if op.direct {
			in = x.image(i)
		} else {
			in = op.im2col(0, x, i)
		}
		out := y.image(i)
		op.b.parallelFor(blocks, func(_, lo, hi int) {
			c0, c1 := lo*block, min(hi*block, cols)
			op.gemm(in[c0:], cols, out[c0:], c1-c0, cols)
		})
	}
	return nil
}

// image computes the cols output columns of image i with the scratch of worker.
func (op *conv2D) image(worker int, x, y *Buffer, i, cols int) {
	in := x.image(i)
	if !op.direct {
		in = op.im2col(worker, x, i)
	}
	op.gemm(in, cols, y.image(i), cols, cols)
}

// gemm multiplies the weight by n columns of the column matrix in (row stride ld) into out
// (row stride ld), then adds the bias and applies the activation.
func (op *conv2D) gemm(in []float32, ld int, out []float32, n, ldOut int) {
	kernels.SgemmPacked(op.weight, n, in, ld, out, ldOut, false)
	kernels.BiasReLU(out, op.d.OutChannels, n, ldOut, op.bias, op.d.Activation == backend.ReLU)
}

// im2col writes the column matrix of image i into the scratch of worker and returns it.
func (op *conv2D) im2col(worker int, x *Buffer, i int) []float32 {
	d := op.d
	oh := (x.h+2*d.PadH-d.KernelH)/d.StrideH + 1
	ow := (x.w+2*d.PadW-d.KernelW)/d.StrideW + 1
	size := d.InChannels * d.KernelH * d.KernelW * oh * ow
	if len(op.scratch[worker]) < size {
		op.scratch[worker] = make([]float32, size)
	}
	col := op.scratch[worker][:size]
	kernels.Im2col(col, x.image(i), x.c, x.h, x.w, d.KernelH, d.KernelW, d.PadH, d.PadW,
		d.StrideH, d.StrideW)
	return col
}
