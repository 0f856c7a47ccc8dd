package backend

import (
	"fmt"
	"math"

	"github.com/renasgo/renas/tensor"
)

// ConvOutputShape returns the output shape of a convolution on an input of shape in.
func ConvOutputShape(d Conv2DDesc, in tensor.Shape) (tensor.Shape, error) {
	if len(in) != 4 {
		return nil, fmt.Errorf("conv2d: input shape %v is not NCHW", in)
	}
	if in[1] != d.InChannels {
		return nil, fmt.Errorf("conv2d: input has %d channels, weight expects %d",
			in[1], d.InChannels)
	}
	oh := (in[2]+2*d.PadH-d.KernelH)/d.StrideH + 1
	ow := (in[3]+2*d.PadW-d.KernelW)/d.StrideW + 1
	if in[2]+2*d.PadH < d.KernelH || in[3]+2*d.PadW < d.KernelW {
		return nil, fmt.Errorf("conv2d: input %dx%d with padding %dx%d is smaller than "+
			"kernel %dx%d", in[2], in[3], d.PadH, d.PadW, d.KernelH, d.KernelW)
	}
	return tensor.Shape{in[0], d.OutChannels, oh, ow}, nil
}

// CheckConv2DDesc validates a convolution description and its weights.
func CheckConv2DDesc(d Conv2DDesc, weight, bias *tensor.Tensor) error {
	if d.InChannels <= 0 || d.OutChannels <= 0 || d.KernelH <= 0 || d.KernelW <= 0 {
		return fmt.Errorf("conv2d: channels and kernel must be positive, got %+v", d)
	}
	if d.StrideH <= 0 || d.StrideW <= 0 || d.PadH < 0 || d.PadW < 0 {
		return fmt.Errorf("conv2d: stride must be positive and padding non-negative, got %+v", d)
	}
	want := tensor.Shape{d.OutChannels, d.InChannels, d.KernelH, d.KernelW}
	if weight == nil || !weight.Shape().Equal(want) {
		return fmt.Errorf("conv2d: weight shape %v, want %v", shapeOf(weight), want)
	}
	if bias != nil && !bias.Shape().Equal(tensor.Shape{d.OutChannels}) {
		return fmt.Errorf("conv2d: bias shape %v, want [%d]", bias.Shape(), d.OutChannels)
	}
	return nil
}

// PoolOutputShape returns the output shape of a pooling layer on an input of shape in, and
// the padding before the first row and column.
func PoolOutputShape(d PoolDesc, in tensor.Shape) (out tensor.Shape, padTop, padLeft int,
	err error) {
	if len(in) != 4 {
		return nil, 0, 0, fmt.Errorf("pool: input shape %v is not NCHW", in)
	}
	if d.KernelH <= 0 || d.KernelW <= 0 || d.StrideH <= 0 || d.StrideW <= 0 {
		return nil, 0, 0, fmt.Errorf("pool: kernel and stride must be positive, got %+v", d)
	}
	h, w := in[2], in[3]
	var oh, ow int
	switch d.Padding {
	case Valid:
		if h < d.KernelH || w < d.KernelW {
			return nil, 0, 0, fmt.Errorf("pool: input %dx%d is smaller than kernel %dx%d",
				h, w, d.KernelH, d.KernelW)
		}
		oh = (h-d.KernelH)/d.StrideH + 1
		ow = (w-d.KernelW)/d.StrideW + 1
	case Same:
		oh = (h + d.StrideH - 1) / d.StrideH
		ow = (w + d.StrideW - 1) / d.StrideW
		padTop = max((oh-1)*d.StrideH+d.KernelH-h, 0) / 2
		padLeft = max((ow-1)*d.StrideW+d.KernelW-w, 0) / 2
	default:
		return nil, 0, 0, fmt.Errorf("pool: unknown padding mode %d", d.Padding)
	}
	return tensor.Shape{in[0], in[1], oh, ow}, padTop, padLeft, nil
}

// FoldBatchNorm returns the weight and bias of a convolution followed by an inference-mode
// batch normalization, as one convolution: w' = w·s and b' = (b − mean)·s + beta with
// s = gamma/sqrt(variance + eps) per output channel. bias may be nil (treated as zero).
func FoldBatchNorm(weight, bias, gamma, beta, mean, variance *tensor.Tensor,
	eps float32) (*tensor.Tensor, *tensor.Tensor, error) {
	if weight == nil || weight.Rank() < 1 {
		return nil, nil, fmt.Errorf("fold batch norm: weight shape %v", shapeOf(weight))
	}
	out := weight.Dim(0)
	for _, p := range []struct {
		name string
		t    *tensor.Tensor
	}{{"gamma", gamma}, {"beta", beta}, {"moving_mean", mean}, {"moving_variance", variance}} {
		if p.t == nil || !p.t.Shape().Equal(tensor.Shape{out}) {
			return nil, nil, fmt.Errorf("fold batch norm: %s shape %v, want [%d]",
				p.name, shapeOf(p.t), out)
		}
	}
	w := weight.ToFloat32().Clone()
	b := tensor.Zeros(out)
	wd, bd := w.Float32s(), b.Float32s()
	per := len(wd) / out
	g, be := gamma.ToFloat32().Float32s(), beta.ToFloat32().Float32s()
	mu, v := mean.ToFloat32().Float32s(), variance.ToFloat32().Float32s()
	var bs []float32
	if bias != nil {
		bs = bias.ToFloat32().Float32s()
	}
	for o := range out {
		s := float32(float64(g[o]) / math.Sqrt(float64(v[o])+float64(eps)))
		for i := range per {
			wd[o*per+i] *= s
		}
		b0 := float32(0)
		if bs != nil {
			b0 = bs[o]
		}
		bd[o] = (b0-mu[o])*s + be[o]
	}
	return w, b, nil
}

func shapeOf(t *tensor.Tensor) tensor.Shape {
	if t == nil {
		return nil
	}
	return t.Shape()
}
