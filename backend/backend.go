// Package backend defines the interface through which the engine runs every layer, and a
// registry that opens an implementation by platform name.
//
// A Backend owns its memory: activations live in Buffers that it allocates, and the host
// reads and writes them only through Upload and Download. Each layer is planned once with a
// New... method, which receives the layer's weights (and may repack or copy them to the
// device) and returns an Op. Running the Op later only reads and writes Buffers. This split
// matches the descriptor-and-plan model of cuDNN and AscendCL, so those implementations can
// be added without changes to the layers above.
//
// Buffers hold batches in NCHW layout. A ChannelView aliases a range of channels of another
// buffer, so that layers write straight into their slice of a concatenation.
package backend

import (
	"errors"

	"github.com/renasgo/renas/tensor"
)

// Platform names, as MindSpore spells its device targets.
const (
	PlatformCPU    = "CPU"
	PlatformGPU    = "GPU"
	PlatformAscend = "Ascend"
)

// Buffer is a batch of activations in NCHW layout, owned by the backend that made it.
type Buffer interface {
	// Shape returns [N, C, H, W].
	Shape() tensor.Shape
}

// Activation selects the function applied to a layer's output.
type Activation uint8

// Activations.
const (
	Identity Activation = iota
	ReLU
)

// Conv2DDesc describes a 2-D convolution with square or rectangular kernels. The output has
// (H + 2·PadH − KernelH)/StrideH + 1 rows, and likewise for columns.
type Conv2DDesc struct {
	InChannels, OutChannels int
	KernelH, KernelW        int
	StrideH, StrideW        int
	PadH, PadW              int
	// Activation is applied after the bias, in the same pass (a fused epilogue).
	Activation Activation
}

// BatchNormDesc describes an inference-mode batch normalization over channels:
// y = gamma·(x − mean)/sqrt(variance + Eps) + beta.
type BatchNormDesc struct {
	Channels   int
	Eps        float32
	Activation Activation
}

// PoolKind selects max or average pooling.
type PoolKind uint8

// Pooling kinds.
const (
	MaxPool PoolKind = iota
	AvgPool
)

// PadMode selects how a pooling window treats the border, with the meanings that MindSpore
// and TensorFlow give "same" and "valid".
type PadMode uint8

// Padding modes.
const (
	// Valid uses only windows that lie inside the input: out = (in − kernel)/stride + 1.
	Valid PadMode = iota
	// Same pads so that out = ceil(in/stride), with the extra row or column at the bottom or
	// right. Padded positions never contribute: they never win a max and are not counted in
	// an average.
	Same
)

// PoolDesc describes a 2-D pooling window.
type PoolDesc struct {
	Kind             PoolKind
	KernelH, KernelW int
	StrideH, StrideW int
	Padding          PadMode
}

// OpKind names an operation for Supports.
type OpKind uint8

// Operation kinds.
const (
	OpConv2D OpKind = iota
	OpBatchNorm
	OpActivation
	OpPool
	OpConcat
	OpLinear
	OpAdd
)

// Op is one planned layer. Run reads x and writes y; both must have the shapes that the
// plan implies, and Run returns an error naming the mismatch otherwise. An Op may be run
// many times, but not concurrently with itself.
type Op interface {
	Run(x, y Buffer) error
	// OutputShape returns the shape of y for an input of shape in.
	OutputShape(in tensor.Shape) (tensor.Shape, error)
}

// Backend runs layers on one device.
type Backend interface {
	// Platform returns the registry name: "CPU", "GPU" or "Ascend".
	Platform() string
	// Describe returns a one-line summary for logs, such as the kernel path and threads.
	Describe() string
	// Supports reports whether the backend implements an operation kind.
	Supports(kind OpKind) bool

	// NewBuffer allocates a zero-filled batch of activations.
	NewBuffer(n, c, h, w int) (Buffer, error)
	// ChannelView returns a buffer that aliases channels [c0, c1) of b.
	ChannelView(b Buffer, c0, c1 int) (Buffer, error)
	// Upload copies a host tensor of the buffer's shape into dst.
	Upload(dst Buffer, src *tensor.Tensor) error
	// Download copies src into a host Float32 tensor of the same number of elements.
	Download(dst *tensor.Tensor, src Buffer) error

	// NewConv2D plans a convolution. weight is [OutChannels, InChannels, KernelH, KernelW];
	// bias is [OutChannels] or nil.
	NewConv2D(d Conv2DDesc, weight, bias *tensor.Tensor) (Op, error)
	// NewBatchNorm plans an inference-mode batch normalization from running statistics.
	NewBatchNorm(d BatchNormDesc, gamma, beta, mean, variance *tensor.Tensor) (Op, error)
	// NewActivation plans an element-wise activation; x and y may be the same buffer.
	NewActivation(a Activation) (Op, error)
	// NewPool plans a pooling layer.
	NewPool(d PoolDesc) (Op, error)
	// NewLinear plans a fully connected layer on [N, C, H, W] inputs flattened to
	// [N, C·H·W]. weight is [out, C·H·W], bias is [out] or nil; y is [N, out, 1, 1].
	NewLinear(weight, bias *tensor.Tensor) (Op, error)
	// Concat copies xs, in order, into consecutive channel ranges of y.
	Concat(y Buffer, xs ...Buffer) error
	// Add writes the element-wise sum of xs, all of y's shape, into y. y may be xs[0], to
	// add the others in place, but must not overlap any other of xs.
	Add(y Buffer, xs ...Buffer) error

	// Sync waits until all submitted work is done.
	Sync() error
	// Close releases the backend's resources; its buffers and ops become invalid.
	Close() error
}

// ErrNotAvailable is returned by Open for a known platform whose implementation is not
// compiled into this binary, such as GPU without cuDNN support.
var ErrNotAvailable = errors.New("backend is not available in this build")

// ErrUnknownPlatform is returned by Open for a name that no backend uses.
var ErrUnknownPlatform = errors.New("unknown platform")

// ErrNoBF16 is returned by Open when Options.BF16 requests bf16 kernels that the device or
// the build does not have.
var ErrNoBF16 = errors.New("no bf16 kernels on this device")
