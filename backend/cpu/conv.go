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

	// weightBF16, if not nil, is the weight of a direct convolution of a bf16 backend, used
	// in place of weight.
	weightBF16 *kernels.PackedABF16

	// wino, if not nil, is the Winograd form of the weight, used when every worker has
	// whole images; winoScratch has one workspace per worker.
	wino        *kernels.WinogradF43
	winoScratch []kernels.WinogradScratch

	shapes shapeCache
	call   convCall // the arguments of the Run in progress, for run
}

// convCall is the set of arguments that the workers of one conv2D.Run read.
type convCall struct {
	mode    convMode
	x, y    *Buffer
	g       kernels.ConvGeometry
	cols    int
	in, out []float32 // the image of modeColumns
}

// convMode is the split of the work of conv2D.Run between the workers.
type convMode int

const (
	modeWinograd convMode = iota // whole images on the Winograd path
	modeImages                   // whole images on the im2col path
	modeColumns                  // blocks of convColumnBlock output columns of one image
)

// convColumnBlock is the number of output columns in one block of modeColumns.
const convColumnBlock = 64

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
	w := weight.ToFloat32().Float32s()
	switch {
	case b.useWinograd(d) && b.bf16:
		op.wino = kernels.NewWinogradF43BF16(w, d.OutChannels, d.InChannels)
	case b.useWinograd(d):
		op.wino = kernels.NewWinogradF43(w, d.OutChannels, d.InChannels)
	case op.direct && b.bf16:
		op.weightBF16 = kernels.PackABF16(d.OutChannels, k, w, k)
	}
	if op.wino != nil {
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
	if op.shapes.lookup(x, y) == nil {
		want, err := op.OutputShape(x.Shape())
		if err != nil {
			return err
		}
		if err := checkShape("conv2d", "output", y, want); err != nil {
			return err
		}
		op.shapes.store(x, y)
	}
	c := &op.call
	*c = convCall{x: x, y: y, g: geometry(op.d, x), cols: y.h * y.w}
	defer func() { op.call = convCall{} }()
	switch {
	case op.wino != nil && x.n >= op.b.threads:
		c.mode = modeWinograd
		op.b.parallelRun(x.n, op)
	case x.n >= op.b.threads:
		c.mode = modeImages
		op.b.parallelRun(x.n, op)
	default:
		// Fewer images than threads: split each image's output columns across the workers.
		// NOTE: a 3×3 convolution then runs on im2col in float32, also on a bf16 backend.
		c.mode = modeColumns
		for i := range x.n {
			c.in, c.out = x.image(i), y.image(i)
			op.b.parallelRun((c.cols+convColumnBlock-1)/convColumnBlock, op)
		}
	}
	return nil
}

// run computes part [lo, hi) of the Run in progress: images, or blocks of columns.
func (op *conv2D) run(worker, lo, hi int) {
	c := &op.call
	switch c.mode {
	case modeWinograd:
		winogradImages(op.wino, &op.winoScratch[worker], c.x, c.y, lo, hi,
			kernels.WinogradImages{Bias: op.bias, ReLU: op.d.Activation == backend.ReLU,
				Pad: op.d.PadH})
	case modeImages:
		for i := lo; i < hi; i++ {
			op.columns(c.x.image(i), c.g, 0, c.cols, c.y.image(i), c.cols)
		}
	case modeColumns:
		c0, c1 := lo*convColumnBlock, min(hi*convColumnBlock, c.cols)
		op.columns(c.in, c.g, c0, c1-c0, c.out[c0:], c.cols)
	}
}

// columns computes output columns [col0, col0+n) of the image in into out (row stride
// ldOut), then adds the bias and applies the activation.
func (op *conv2D) columns(in []float32, g kernels.ConvGeometry, col0, n int, out []float32,
	ldOut int) {
	switch {
	case op.weightBF16 != nil:
		kernels.SgemmBF16Packed(op.weightBF16, n, in[col0:], g.Cols(), out, ldOut, false)
	case op.direct:
		kernels.SgemmPacked(op.weight, n, in[col0:], g.Cols(), out, ldOut, false)
	default:
		kernels.SgemmIm2col(op.weight, in, g, col0, n, out, ldOut, false)
	}
	kernels.BiasReLU(out, op.d.OutChannels, n, ldOut, op.bias, op.d.Activation == backend.ReLU)
}

// winogradMinChannels is the smallest channel count on both sides of a 3×3 convolution for
// which the Winograd path runs. The tile transforms cost the same per channel whatever the
// channel count, and the multiplications they save grow with it.
//
// NOTE: 8 is a guess between the 3-channel stem, not measured on this path, and 16 channels,
// where a layer ran 2.5 times faster than on im2col.
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
