package predictor

import (
	"fmt"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/nasnet/nasbench"
	"github.com/renasgo/renas/tensor"
)

// BatchNorm constants: the running statistics move by BatchNormFactor of the batch
// statistics each step (PyTorch's momentum 0.1), and BatchNormEps is added to the variance.
const (
	BatchNormFactor = 0.1
	BatchNormEps    = 1e-5
)

// Adam holds the hyper-parameters of the Adam optimizer.
type Adam struct {
	LR, Beta1, Beta2, Eps float32
	// WeightDecay is the L2 coefficient added to every parameter's gradient, as in
	// PyTorch's torch.optim.Adam (not the decoupled decay of AdamW).
	WeightDecay float32
}

// DefaultAdam is Adam with learning rate 1e-3, β1 0.9, β2 0.999, eps 1e-8 and no weight
// decay.
var DefaultAdam = Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}

// param is a trainable tensor on the backend with its gradient and Adam moments. host is
// the model tensor, viewed in the buffer's shape.
type param struct {
	host              *tensor.Tensor
	value, grad, m, v backend.Buffer
}

// convLayer is a convolution followed by training-mode batch normalization with ReLU.
type convLayer struct {
	conv                 backend.Conv2DDesc
	norm                 backend.BatchNormDesc
	weight, gamma, beta  *param
	mean, variance       backend.Buffer
	meanHost, varHost    *tensor.Tensor
	saveMean, saveInvStd backend.Buffer
	convOut, out         backend.Buffer
	dConv                backend.Buffer
}

type denseLayer struct {
	weight, bias *param
	out, dOut    backend.Buffer
}

// Trainer trains a Model on one fixed batch, the whole training set, with the ranking loss.
// Between steps the parameters live on the backend, and SyncToHost copies them back into
// the Model. A Trainer is not safe for concurrent use.
type Trainer struct {
	be     backend.Trainer
	model  *Model
	n      int
	steps  int
	params []*param
	relu   backend.Op

	x        backend.Buffer
	convs    [2]*convLayer
	dense    [3]*denseLayer
	dConvIn  backend.Buffer // gradient of the first layer's output, the second's input
	dFlat    backend.Buffer // gradient of the second convolution layer's output
	hostOut  *tensor.Tensor
	hostGrad *tensor.Tensor
}

// NewTrainer uploads the model's parameters and the batch x [N, 19, 7, 7] of standardised
// encodings to b, which must implement backend.Trainer.
func NewTrainer(b backend.Backend, m *Model, x *tensor.Tensor) (*Trainer, error) {
	be, ok := b.(backend.Trainer)
	if !ok {
		return nil, fmt.Errorf("predictor: platform %s cannot train", b.Platform())
	}
	s := x.Shape()
	if len(s) != 4 || s[0] < 1 || s[1] != nasbench.EncodingChannels || s[2] != side ||
		s[3] != side {
		return nil, fmt.Errorf("predictor: training batch has shape %v, want [N %d %d %d]", s,
			nasbench.EncodingChannels, side, side)
	}
	tr := &Trainer{be: be, model: m, n: s[0]}
	var err error
	if tr.relu, err = be.NewActivation(backend.ReLU); err != nil {
		return nil, err
	}
	if tr.x, err = tr.upload(x); err != nil {
		return nil, err
	}
	if err := tr.build(); err != nil {
		return nil, fmt.Errorf("predictor: %w", err)
	}
	return tr, nil
}

// upload copies t, viewed in its 4-D buffer shape, into a new buffer.
func (tr *Trainer) upload(t *tensor.Tensor) (backend.Buffer, error) {
	s := bufferShape(t.Shape())
	view, err := t.Reshape(s...)
	if err != nil {
		return nil, err
	}
	b, err := tr.be.NewBuffer(s[0], s[1], s[2], s[3])
	if err != nil {
		return nil, err
	}
	return b, tr.be.Upload(b, view)
}

// bufferShape returns the buffer shape of a tensor, as backend.Trainer lays out parameters:
// 4-D keeps its shape, [out, in] becomes [out, in, 1, 1] and [C] becomes [1, C, 1, 1].
func bufferShape(s tensor.Shape) tensor.Shape {
	switch len(s) {
	case 4:
		return s.Clone()
	case 2:
		return tensor.Shape{s[0], s[1], 1, 1}
	}
	return tensor.Shape{1, s[0], 1, 1}
}

func (tr *Trainer) newParam(t *tensor.Tensor) (*param, error) {
	s := bufferShape(t.Shape())
	host, err := t.Reshape(s...)
	if err != nil {
		return nil, err
	}
	p := &param{host: host}
	if p.value, err = tr.upload(t); err != nil {
		return nil, err
	}
	for _, b := range []*backend.Buffer{&p.grad, &p.m, &p.v} {
		if *b, err = tr.be.NewBuffer(s[0], s[1], s[2], s[3]); err != nil {
			return nil, err
		}
	}
	tr.params = append(tr.params, p)
	return p, nil
}

func (tr *Trainer) build() error {
	m, n := tr.model, tr.n
	var err error
	alloc := func(c, h int) backend.Buffer {
		if err != nil {
			return nil
		}
		var b backend.Buffer
		b, err = tr.be.NewBuffer(n, c, h, h)
		return b
	}
	in := nasbench.EncodingChannels
	for k, out := range m.Config.Channels {
		if got := m.Conv[k].Shape(); !got.Equal(tensor.Shape{out, in, 3, 3}) {
			return fmt.Errorf("conv%d weight has shape %v, want [%d %d 3 3]", k+1, got, out,
				in)
		}
		l := &convLayer{
			conv: backend.Conv2DDesc{InChannels: in, OutChannels: out, KernelH: 3, KernelW: 3,
				StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
			norm: backend.BatchNormDesc{Channels: out, Eps: BatchNormEps,
				Activation: backend.ReLU},
			meanHost: m.Norm[k].MovingMean, varHost: m.Norm[k].MovingVariance,
		}
		if l.weight, err = tr.newParam(m.Conv[k]); err != nil {
			return err
		}
		if l.gamma, err = tr.newParam(m.Norm[k].Gamma); err != nil {
			return err
		}
		if l.beta, err = tr.newParam(m.Norm[k].Beta); err != nil {
			return err
		}
		if l.mean, err = tr.upload(l.meanHost); err != nil {
			return err
		}
		if l.variance, err = tr.upload(l.varHost); err != nil {
			return err
		}
		if l.saveMean, err = tr.be.NewBuffer(1, out, 1, 1); err != nil {
			return err
		}
		if l.saveInvStd, err = tr.be.NewBuffer(1, out, 1, 1); err != nil {
			return err
		}
		l.convOut, l.out, l.dConv = alloc(out, side), alloc(out, side), alloc(out, side)
		tr.convs[k] = l
		in = out
	}
	tr.dConvIn = alloc(m.Config.Channels[0], side)
	tr.dFlat = alloc(m.Config.Channels[1], side)
	in *= side * side
	for k, out := range []int{m.Config.Hidden[0], m.Config.Hidden[1], 1} {
		d := m.Dense[k]
		if got := d.Weight.Shape(); !got.Equal(tensor.Shape{out, in}) {
			return fmt.Errorf("fc%d weight has shape %v, want [%d %d]", k+1, got, out, in)
		}
		l := &denseLayer{}
		if l.weight, err = tr.newParam(d.Weight); err != nil {
			return err
		}
		if l.bias, err = tr.newParam(d.Bias); err != nil {
			return err
		}
		l.out, l.dOut = alloc(out, 1), alloc(out, 1)
		tr.dense[k] = l
		in = out
	}
	tr.hostOut = tensor.Zeros(n, 1, 1, 1)
	tr.hostGrad = tensor.Zeros(n, 1, 1, 1)
	return err
}

// Forward runs the network in training mode (batch statistics, which also moves the
// running statistics) and returns the N scores.
func (tr *Trainer) Forward() ([]float32, error) {
	x := tr.x
	for _, l := range tr.convs {
		if err := tr.be.Conv2DForward(l.conv, x, l.weight.value, l.convOut); err != nil {
			return nil, err
		}
		if err := tr.be.BatchNormForwardTraining(l.norm, l.convOut, l.out, l.gamma.value,
			l.beta.value, l.mean, l.variance, l.saveMean, l.saveInvStd,
			BatchNormFactor); err != nil {
			return nil, err
		}
		x = l.out
	}
	for k, l := range tr.dense {
		if err := tr.be.LinearForward(x, l.weight.value, l.bias.value, l.out); err != nil {
			return nil, err
		}
		if k < len(tr.dense)-1 {
			if err := tr.relu.Run(l.out, l.out); err != nil {
				return nil, err
			}
		}
		x = l.out
	}
	if err := tr.be.Download(tr.hostOut, x); err != nil {
		return nil, err
	}
	return tr.hostOut.Float32s(), nil
}

// Backward computes every parameter gradient from grad, dL/d(score) for each of the N
// scores of the last Forward.
func (tr *Trainer) Backward(grad []float32) error {
	if len(grad) != tr.n {
		return fmt.Errorf("predictor: %d score gradients for a batch of %d", len(grad), tr.n)
	}
	copy(tr.hostGrad.Float32s(), grad)
	last := tr.dense[len(tr.dense)-1]
	if err := tr.be.Upload(last.dOut, tr.hostGrad); err != nil {
		return err
	}
	for k := len(tr.dense) - 1; k >= 0; k-- {
		l := tr.dense[k]
		if k < len(tr.dense)-1 {
			// The ReLU ran in place, so l.out is its output and masks the gradient.
			if err := tr.be.ReLUBackward(l.out, l.dOut, l.dOut); err != nil {
				return err
			}
		}
		x, dx := tr.convs[1].out, tr.dFlat
		if k > 0 {
			x, dx = tr.dense[k-1].out, tr.dense[k-1].dOut
		}
		if err := tr.be.LinearBackward(x, l.weight.value, l.dOut, dx, l.weight.grad,
			l.bias.grad, false); err != nil {
			return err
		}
	}
	dOut := tr.dFlat
	for k := len(tr.convs) - 1; k >= 0; k-- {
		l := tr.convs[k]
		if err := tr.be.BatchNormBackward(l.norm, l.convOut, l.out, dOut, l.gamma.value,
			l.beta.value, l.saveMean, l.saveInvStd, l.dConv, l.gamma.grad,
			l.beta.grad); err != nil {
			return err
		}
		x := tr.x
		if k > 0 {
			x = tr.convs[k-1].out
		}
		if err := tr.be.Conv2DBackwardFilter(l.conv, x, l.dConv, l.weight.grad); err != nil {
			return err
		}
		if k == 0 {
			break
		}
		if err := tr.be.Conv2DBackwardData(l.conv, l.weight.value, l.dConv, tr.dConvIn,
			false); err != nil {
			return err
		}
		dOut = tr.dConvIn
	}
	return nil
}

// Step runs one Adam step on the ranking loss against targets y, one per cell, where higher
// is better. It returns the loss of the forward pass before the update.
func (tr *Trainer) Step(y []float64, opt Adam) (float64, error) {
	scores, err := tr.Forward()
	if err != nil {
		return 0, err
	}
	grad := make([]float32, tr.n)
	loss, err := RankingLoss(scores, y, grad)
	if err != nil {
		return 0, err
	}
	if err := tr.Backward(grad); err != nil {
		return 0, err
	}
	tr.steps++
	for _, p := range tr.params {
		if err := tr.be.AdamUpdate(p.value, p.grad, p.m, p.v, opt.LR, opt.Beta1, opt.Beta2,
			opt.Eps, opt.WeightDecay, tr.steps); err != nil {
			return 0, err
		}
	}
	return loss, tr.be.Sync()
}

// SyncToHost copies the parameters and running statistics back into the Model.
func (tr *Trainer) SyncToHost() error {
	for _, p := range tr.params {
		if err := tr.be.Download(p.host, p.value); err != nil {
			return err
		}
	}
	for _, l := range tr.convs {
		if err := tr.be.Download(l.meanHost, l.mean); err != nil {
			return err
		}
		if err := tr.be.Download(l.varHost, l.variance); err != nil {
			return err
		}
	}
	return nil
}
