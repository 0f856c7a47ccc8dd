package cpu

import (
	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/tensor"
)

// conv2D computes a convolution of one image as the product of the packed weight matrix
// [OutChannels, InChannels·KernelH·KernelW] and the image's im2col matrix, which the GEMM packs
// straight from the image, followed by the bias and activation in one pass over the output.
// A 1×1 convolution with stride 1 and no padding multiplies the weight by the image itself.
type conv2D struct {
	b      *Backend
	d      backend.Conv2DDesc
	weight *kernels.PackedA
	bias   []float32
	direct bool // the input is its own im2col matrix
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
		direct: isDirect(d),
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
	g := geometry(op.d, x)
	if x.n >= op.b.threads {
		op.b.parallelFor(x.n, func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				op.columns(x.image(i), g, 0, cols, y.image(i), cols)
			}
		})
		return nil
	}
	// Fewer images than threads: split each image's output columns across the workers.
	const block = 64
	blocks := (cols + block - 1) / block
	for i := range x.n {
		in, out := x.image(i), y.image(i)
		op.b.parallelFor(blocks, func(_, lo, hi int) {
			c0, c1 := lo*block, min(hi*block, cols)
			op.columns(in, g, c0, c1-c0, out[c0:], cols)
		})
	}
	return nil
}

// columns computes output columns [col0, col0+n) of the image in into out (row stride
// ldOut), then adds the bias and applies the activation.
func (op *conv2D) columns(in []float32, g kernels.ConvGeometry, col0, n int, out []float32,
	ldOut int) {
	if op.direct {
		kernels.SgemmPacked(op.weight, n, in[col0:], g.Cols(), out, ldOut, false)
	} else {
		kernels.SgemmIm2col(op.weight, in, g, col0, n, out, ldOut, false)
	}
	kernels.BiasReLU(out, op.d.OutChannels, n, ldOut, op.bias, op.d.Activation == backend.ReLU)
}

// geometry returns the convolution of d over one image of x.
func geometry(d backend.Conv2DDesc, x *Buffer) kernels.ConvGeometry {
	return kernels.ConvGeometry{C: x.c, H: x.h, W: x.w, KH: d.KernelH, KW: d.KernelW,
		PadH: d.PadH, PadW: d.PadW, StrideH: d.StrideH, StrideW: d.StrideW}
}
