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

	// wino, if not nil, is the Winograd form of the weight, used when every worker has
	// whole images; winoScratch has one workspace per worker.
	wino        *kernels.WinogradF43
	winoScratch []kernels.WinogradScratch
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
	if b.useWinograd(d) {
		op.wino = kernels.NewWinogradF43(weight.ToFloat32().Float32s(), d.OutChannels,
			d.InChannels)
		op.winoScratch = make([]kernels.WinogradScratch, b.threads)
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
	if op.wino != nil && x.n >= op.b.threads {
		op.b.parallelFor(x.n, func(worker, lo, hi int) {
			winogradImages(op.wino, &op.winoScratch[worker], x, y, lo, hi,
				kernels.WinogradImages{Bias: op.bias, ReLU: op.d.Activation == backend.ReLU,
					Pad: op.d.PadH})
		})
		return nil
	}
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

// winogradMinChannels is the smallest channel count on both sides of a 3×3 convolution for
// which the Winograd path runs. Below it, the scalar tile transforms cost more than the
// multiplications they save.
const winogradMinChannels = 8

// winogradTiles is the number of tiles that one Winograd GEMM should cover at least.
const winogradTiles = 128

// useWinograd reports whether a convolution runs on the Winograd path: the backend allows it,
// and the convolution is 3×3 with stride 1, the same padding of at most 2 on every side, and
// enough channels.
func (b *Backend) useWinograd(d backend.Conv2DDesc) bool {
	return b.winograd && d.KernelH == 3 && d.KernelW == 3 && d.StrideH == 1 && d.StrideW == 1 &&
		d.PadH == d.PadW && d.PadH <= 2 && d.InChannels >= winogradMinChannels &&
		d.OutChannels >= winogradMinChannels
}

// winogradImages convolves images [lo, hi) of x into y with wg, in groups of about
// winogradTiles tiles. im gives the padding and the epilogue; the images are filled in.
func winogradImages(wg *kernels.WinogradF43, s *kernels.WinogradScratch, x, y *Buffer,
	lo, hi int, im kernels.WinogradImages) {
	group := max(1, winogradTiles/kernels.WinogradTiles(x.h, x.w, im.Pad))
	im.H, im.W = x.h, x.w
	im.XStride, im.YStride = x.batchStride, y.batchStride
	for i := lo; i < hi; i += group {
		im.N = min(group, hi-i)
		im.X, im.Y = x.data[i*x.batchStride:], y.data[i*y.batchStride:]
		wg.Conv(s, im)
	}
}

// geometry returns the convolution of d over one image of x.
func geometry(d backend.Conv2DDesc, x *Buffer) kernels.ConvGeometry {
	return kernels.ConvGeometry{C: x.c, H: x.h, W: x.w, KH: d.KernelH, KW: d.KernelW,
		PadH: d.PadH, PadW: d.PadW, StrideH: d.StrideH, StrideW: d.StrideW}
}
