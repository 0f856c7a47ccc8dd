package nasnet

import (
	"fmt"
	"math"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/tensor"
)

// Precision is the arithmetic of a training run. The weights that the optimizer updates,
// the master weights, are float32 in every precision.
type Precision uint8

// Precisions.
const (
	// FP32 computes everything in float32.
	FP32 Precision = iota
	// BF16 runs the products of the convolutions' forward and data-gradient passes on bf16
	// inputs with float32 sums. It needs a backend opened with Options.BF16.
	BF16
	// FP16 rounds the convolution and dense weights to binary16 for the forward and backward
	// passes, and their gradients to binary16, with dynamic loss scaling. Activations and
	// arithmetic stay float32, since the CPU has no binary16 arithmetic.
	FP16
)

// String returns "fp32", "bf16" or "fp16".
func (p Precision) String() string {
	switch p {
	case FP32:
		return "fp32"
	case BF16:
		return "bf16"
	case FP16:
		return "fp16"
	}
	return fmt.Sprintf("Precision(%d)", p)
}

// ParsePrecision returns the Precision named fp32, bf16 or fp16.
func ParsePrecision(s string) (Precision, error) {
	for _, p := range []Precision{FP32, BF16, FP16} {
		if s == p.String() {
			return p, nil
		}
	}
	return 0, fmt.Errorf("precision must be fp32, bf16 or fp16, got %q", s)
}

// The defaults of dynamic loss scaling, those of PyTorch's GradScaler.
const (
	DefaultLossScale       = 65536
	DefaultLossScaleWindow = 2000
)

// lossScaler is the state of dynamic loss scaling: the loss gradient is multiplied by scale,
// a step whose binary16 gradients overflow is skipped and halves the scale, and window clean
// steps in a row double it.
type lossScaler struct {
	scale   float64
	window  int
	clean   int // clean steps since the last overflow or growth
	skipped int // steps skipped since the Trainer was made
}

func newLossScaler(cfg TrainConfig) lossScaler {
	s := lossScaler{scale: float64(cfg.LossScale), window: cfg.LossScaleWindow}
	if s.scale == 0 {
		s.scale = DefaultLossScale
	}
	if s.window == 0 {
		s.window = DefaultLossScaleWindow
	}
	return s
}

// LossScale returns the current loss scale of an FP16 run, and 1 in other precisions.
func (tr *Trainer) LossScale() float64 {
	if tr.cfg.Precision != FP16 {
		return 1
	}
	return tr.scaler.scale
}

// SkippedSteps returns the number of steps that FP16 loss scaling skipped since the Trainer
// was made.
func (tr *Trainer) SkippedSteps() int { return tr.scaler.skipped }

// checkPrecision returns an error when the backend cannot run the precision of cfg.
func checkPrecision(be backend.Trainer, cfg TrainConfig) error {
	switch cfg.Precision {
	case FP32, FP16:
		return nil
	case BF16:
		if b, ok := be.(interface{ BF16() bool }); ok && b.BF16() {
			return nil
		}
		return fmt.Errorf("train: precision bf16 needs a backend opened with bf16 kernels, "+
			"and %s was not", be.Describe())
	}
	return fmt.Errorf("train: unknown precision %d", cfg.Precision)
}

// halfWeight is the binary16 side of an FP16 parameter: master holds the float32 weight that
// the optimizer updates, the parameter's value its binary16 rounding, and host and bits are
// the scratch of the rounding.
type halfWeight struct {
	master backend.Buffer
	host   *tensor.Tensor
	bits   []uint16
}

// newHalfWeight moves the float32 value of p to a master buffer and rounds the value.
func (tr *Trainer) newHalfWeight(p *param) error {
	shape := bufferShape(p.host.Shape())
	master, err := tr.newBuffer(shape)
	if err != nil {
		return err
	}
	p.half = &halfWeight{master: master, host: tensor.Zeros(shape...),
		bits: make([]uint16, p.host.Len())}
	if err := tr.be.Download(p.half.host, p.value); err != nil {
		return err
	}
	if err := tr.be.Upload(master, p.half.host); err != nil {
		return err
	}
	return tr.roundFloat16(p, p.value, p.value)
}

// roundFloat16 writes src rounded to binary16 into dst, through the host scratch of p.
func (tr *Trainer) roundFloat16(p *param, dst, src backend.Buffer) error {
	h := p.half
	if err := tr.be.Download(h.host, src); err != nil {
		return err
	}
	f := h.host.Float32s()
	kernels.Float32ToFloat16s(h.bits, f)
	kernels.Float16ToFloat32s(f, h.bits)
	return tr.be.Upload(dst, h.host)
}

// unscaleGradients rounds the weight gradients of an FP16 step to binary16 and checks every
// gradient for overflow. On overflow it halves the loss scale and reports false: the step
// is skipped. Otherwise it divides the gradients by the loss scale, doubles the scale after
// a window of clean steps, and reports true.
func (tr *Trainer) unscaleGradients() (bool, error) {
	s := &tr.scaler
	finite := true
	for _, p := range tr.params {
		if p.half != nil {
			if err := tr.roundFloat16(p, p.grad, p.grad); err != nil {
				return false, err
			}
		}
		sum, err := tr.be.SumSquares(p.grad)
		if err != nil {
			return false, fmt.Errorf("gradient check of %s: %w", p.name, err)
		}
		if math.IsNaN(sum) || math.IsInf(sum, 0) {
			finite = false
			break
		}
	}
	if !finite {
		s.scale /= 2
		s.clean = 0
		s.skipped++
		return false, nil
	}
	for _, p := range tr.params {
		if err := tr.be.Scale(p.grad, float32(1/s.scale)); err != nil {
			return false, fmt.Errorf("unscale gradient of %s: %w", p.name, err)
		}
	}
	s.clean++
	if s.clean == s.window {
		s.scale *= 2
		s.clean = 0
	}
	return true, nil
}
