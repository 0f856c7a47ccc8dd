package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/tensor"
)

// BatchNormEps is the epsilon of every batch normalization, as in MindSpore and PyTorch.
const BatchNormEps = 1e-5

// Conv2d is a 2-D convolution with weight [out, in, k, k] and an optional bias [out].
type Conv2d struct {
	Weight      *tensor.Tensor
	Bias        *tensor.Tensor // nil for a convolution without bias
	Stride, Pad int
}

// NewConv2d returns a convolution with He-normal weights, std sqrt(2/(in·k·k)), drawn from r.
func NewConv2d(r *rand.Rand, in, out, k, stride, pad int, bias bool) *Conv2d {
	c := &Conv2d{Weight: tensor.Zeros(out, in, k, k), Stride: stride, Pad: pad}
	std := math.Sqrt(2 / float64(in*k*k))
	w := c.Weight.Float32s()
	for i := range w {
		w[i] = float32(r.NormFloat64() * std)
	}
	if bias {
		c.Bias = tensor.Zeros(out)
	}
	return c
}

// Params returns the layer's parameters under prefix.
func (c *Conv2d) Params(prefix string) []Param {
	ps := []Param{{Name: prefix + ".weight", Value: c.Weight, Trainable: true}}
	if c.Bias != nil {
		ps = append(ps, Param{Name: prefix + ".bias", Value: c.Bias, Trainable: true})
	}
	return ps
}

// Desc returns the backend description of the convolution.
func (c *Conv2d) Desc(act backend.Activation) backend.Conv2DDesc {
	s := c.Weight.Shape()
	return backend.Conv2DDesc{InChannels: s[1], OutChannels: s[0], KernelH: s[2],
		KernelW: s[3], StrideH: c.Stride, StrideW: c.Stride, PadH: c.Pad, PadW: c.Pad,
		Activation: act}
}

// BatchNorm2d is a batch normalization over channels with MindSpore's parameter names.
type BatchNorm2d struct {
	Gamma, Beta                *tensor.Tensor
	MovingMean, MovingVariance *tensor.Tensor
}

// NewBatchNorm2d returns the identity normalization: gamma 1, beta 0, mean 0, variance 1.
func NewBatchNorm2d(channels int) *BatchNorm2d {
	bn := &BatchNorm2d{Gamma: tensor.Zeros(channels), Beta: tensor.Zeros(channels),
		MovingMean: tensor.Zeros(channels), MovingVariance: tensor.Zeros(channels)}
	for i := range channels {
		bn.Gamma.Float32s()[i] = 1
		bn.MovingVariance.Float32s()[i] = 1
	}
	return bn
}

// Params returns the layer's parameters under prefix; the running statistics are not
// trainable.
func (bn *BatchNorm2d) Params(prefix string) []Param {
	return []Param{
		{Name: prefix + ".gamma", Value: bn.Gamma, Trainable: true},
		{Name: prefix + ".beta", Value: bn.Beta, Trainable: true},
		{Name: prefix + ".moving_mean", Value: bn.MovingMean},
		{Name: prefix + ".moving_variance", Value: bn.MovingVariance},
	}
}

// Linear is a fully connected layer with weight [out, in] and bias [out].
type Linear struct {
	Weight, Bias *tensor.Tensor
}

// NewLinear returns a layer with weights and bias uniform in ±1/sqrt(in), drawn from r.
func NewLinear(r *rand.Rand, in, out int) *Linear {
	l := &Linear{Weight: tensor.Zeros(out, in), Bias: tensor.Zeros(out)}
	bound := 1 / math.Sqrt(float64(in))
	for _, s := range [][]float32{l.Weight.Float32s(), l.Bias.Float32s()} {
		for i := range s {
			s[i] = float32((2*r.Float64() - 1) * bound)
		}
	}
	return l
}

// Params returns the layer's parameters under prefix.
func (l *Linear) Params(prefix string) []Param {
	return []Param{
		{Name: prefix + ".weight", Value: l.Weight, Trainable: true},
		{Name: prefix + ".bias", Value: l.Bias, Trainable: true},
	}
}

// PlanConvBN plans a convolution followed by inference-mode batch normalization and an
// activation as one backend convolution, with the normalization folded into its weight and
// bias.
func PlanConvBN(b backend.Backend, c *Conv2d, bn *BatchNorm2d,
	act backend.Activation) (backend.Op, error) {
	w, bias, err := backend.FoldBatchNorm(c.Weight, c.Bias, bn.Gamma, bn.Beta, bn.MovingMean,
		bn.MovingVariance, BatchNormEps)
	if err != nil {
		return nil, err
	}
	op, err := b.NewConv2D(c.Desc(act), w, bias)
	if err != nil {
		return nil, fmt.Errorf("plan conv+bn: %w", err)
	}
	return op, nil
}
