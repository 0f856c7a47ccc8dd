package cpu

import (
	"fmt"
	"math"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/tensor"
)

// scaleShift computes y = x·scale[c] + shift[c] per channel, then the activation. It serves
// inference-mode batch normalization (scale and shift folded from the statistics) and plain
// activations (scale 1, shift 0).
type scaleShift struct {
	b            *Backend
	op           string
	channels     int // 0 accepts any channel count (activations)
	scale, shift []float32
	identity     bool // scale 1 and shift 0: only the activation remains
	relu         bool
}

// NewBatchNorm plans an inference-mode batch normalization.
func (b *Backend) NewBatchNorm(d backend.BatchNormDesc, gamma, beta, mean,
	variance *tensor.Tensor) (backend.Op, error) {
	if d.Channels <= 0 {
		return nil, fmt.Errorf("batchnorm: channels must be positive, got %d", d.Channels)
	}
	op := &scaleShift{b: b, op: "batchnorm", channels: d.Channels,
		scale: make([]float32, d.Channels), shift: make([]float32, d.Channels),
		relu: d.Activation == backend.ReLU}
	params := []*tensor.Tensor{gamma, beta, mean, variance}
	names := []string{"gamma", "beta", "moving_mean", "moving_variance"}
	vals := make([][]float32, 4)
	for k, p := range params {
		if p == nil || !p.Shape().Equal(tensor.Shape{d.Channels}) {
			return nil, fmt.Errorf("batchnorm: %s shape %v, want [%d]", names[k], shape(p),
				d.Channels)
		}
		vals[k] = p.ToFloat32().Float32s()
	}
	for c := range d.Channels {
		s := float32(float64(vals[0][c]) / math.Sqrt(float64(vals[3][c])+float64(d.Eps)))
		op.scale[c] = s
		op.shift[c] = vals[1][c] - vals[2][c]*s
	}
	return op, nil
}

// NewActivation plans an element-wise activation.
func (b *Backend) NewActivation(a backend.Activation) (backend.Op, error) {
	switch a {
	case backend.Identity, backend.ReLU:
		return &scaleShift{b: b, op: "activation", identity: true, relu: a == backend.ReLU},
			nil
	}
	return nil, fmt.Errorf("activation: unknown kind %d", a)
}

func (op *scaleShift) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	if len(in) != 4 {
		return nil, fmt.Errorf("%s: input shape %v is not NCHW", op.op, in)
	}
	if op.channels != 0 && in[1] != op.channels {
		return nil, fmt.Errorf("%s: input has %d channels, want %d", op.op, in[1], op.channels)
	}
	return in.Clone(), nil
}

func (op *scaleShift) Run(xb, yb backend.Buffer) error {
	x, y, err := asBuffers(xb, yb)
	if err != nil {
		return err
	}
	if _, err := op.OutputShape(x.Shape()); err != nil {
		return err
	}
	if err := checkShape(op.op, "output", y, x.Shape()); err != nil {
		return err
	}
	plane := x.h * x.w
	op.b.parallelFor(x.n*x.c, func(_, lo, hi int) {
		for p := lo; p < hi; p++ {
			i, c := p/x.c, p%x.c
			src := x.image(i)[c*plane : (c+1)*plane]
			dst := y.image(i)[c*plane : (c+1)*plane]
			if op.identity {
				copy(dst, src) // a no-op when x and y alias
				if op.relu {
					kernels.BiasReLU(dst, 1, plane, plane, zero[:], true)
				}
				continue
			}
			s, t := op.scale[c], op.shift[c]
			for j, v := range src {
				v = v*s + t
				if op.relu && v < 0 {
					v = 0
				}
				dst[j] = v
			}
		}
	})
	return nil
}

var zero [1]float32

func shape(t *tensor.Tensor) tensor.Shape {
	if t == nil {
		return nil
	}
	return t.Shape()
}
