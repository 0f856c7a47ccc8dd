package nasnet

import (
	"fmt"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/nn"
	"github.com/renasgo/renas/tensor"
)

// param is a trainable tensor on the backend: its value, its gradient and the optimizer's
// state buffers (velocity for SGD, first and second moments for Adam).
type param struct {
	name  string
	host  *tensor.Tensor
	value backend.Buffer
	grad  backend.Buffer
	state [2]backend.Buffer
	// decay marks convolution and dense weights, the only parameters with weight decay.
	decay bool
	// half, in an FP16 run, holds the float32 master of a convolution or dense weight, whose
	// value is then rounded to binary16.
	half *halfWeight
}

// statistic is a running batch-norm statistic: stored in checkpoints, never trained.
type statistic struct {
	name  string
	host  *tensor.Tensor
	value backend.Buffer
}

// unit is a convolution without bias followed by training-mode batch normalization and
// ReLU, the building block of every layer of the network.
type unit struct {
	conv                  backend.Conv2DDesc
	norm                  backend.BatchNormDesc
	weight, gamma, beta   *param
	mean, variance        *statistic
	saveMean, saveInvStd  backend.Buffer
	convOut, out          backend.Buffer // out may be a channel view of a concatenation
	inShape, convOutShape tensor.Shape
}

// trainCell holds one cell's units and the activations that its backward pass reads.
type trainCell struct {
	cbr  [3]*unit
	proj [6]*unit
	// x is the cell input; the others are the intermediate values of the cell's formula.
	x, maxPool, o1, o2, o2p, o3, o4, out backend.Buffer
}

// gradients are the scratch gradient buffers of one stack, shared by its cells because
// backward runs one cell at a time.
type gradients struct {
	maxPool, o1, o2, o2p, o3, o4 backend.Buffer
	o1Halves, o2pHalves          [2]backend.Buffer
	full, half                   backend.Buffer // gradients of a unit's conv output
	in, out                      backend.Buffer // cell input and output, swapped per cell
	inHalves, outHalves          [2]backend.Buffer
}

// buildParams registers the backend buffers of every parameter and statistic of net, in
// the order of net.Params.
func (tr *Trainer) buildParams(net *Network) error {
	byName := map[string]nn.Param{}
	for _, p := range net.Params() {
		byName[p.Name] = p
	}
	for _, p := range net.Params() {
		s := p.Value.Shape()
		shape := bufferShape(s)
		value, err := tr.newBuffer(shape)
		if err != nil {
			return err
		}
		t, err := p.Value.Reshape(shape...)
		if err != nil {
			return err
		}
		if err := tr.be.Upload(value, t); err != nil {
			return err
		}
		if !p.Trainable {
			tr.stats = append(tr.stats, &statistic{name: p.Name, host: p.Value, value: value})
			tr.statByName[p.Name] = tr.stats[len(tr.stats)-1]
			continue
		}
		tp := &param{name: p.Name, host: p.Value, value: value, decay: len(s) >= 2}
		if tp.grad, err = tr.newBuffer(shape); err != nil {
			return err
		}
		for k := range tp.state {
			if tp.state[k], err = tr.newBuffer(shape); err != nil {
				return err
			}
		}
		tr.params = append(tr.params, tp)
		tr.paramByName[p.Name] = tp
	}
	return nil
}

// bufferShape returns the 4-D buffer shape of a parameter: a convolution weight keeps its
// shape, a dense weight [out, in] becomes [out, in, 1, 1] and a vector [C] becomes [1, C, 1, 1].
func bufferShape(s tensor.Shape) tensor.Shape {
	switch len(s) {
	case 4:
		return s.Clone()
	case 2:
		return tensor.Shape{s[0], s[1], 1, 1}
	}
	return tensor.Shape{1, s[0], 1, 1}
}

func (tr *Trainer) newBuffer(s tensor.Shape) (backend.Buffer, error) {
	return tr.be.NewBuffer(s[0], s[1], s[2], s[3])
}

// newUnit returns the unit whose convolution is conv and normalization is norm (checkpoint
// name prefixes), reading an input of inShape.
func (tr *Trainer) newUnit(conv, norm string, c *nn.Conv2d, inShape tensor.Shape) (*unit,
	error) {
	u := &unit{
		conv:     c.Desc(backend.Identity),
		weight:   tr.paramByName[conv+".weight"],
		gamma:    tr.paramByName[norm+".gamma"],
		beta:     tr.paramByName[norm+".beta"],
		mean:     tr.statByName[norm+".moving_mean"],
		variance: tr.statByName[norm+".moving_variance"],
		inShape:  inShape,
	}
	if u.weight == nil || u.gamma == nil || u.beta == nil || u.mean == nil || u.variance == nil {
		return nil, fmt.Errorf("train: parameters of %s/%s not found", conv, norm)
	}
	u.norm = backend.BatchNormDesc{Channels: u.conv.OutChannels, Eps: nn.BatchNormEps,
		Activation: backend.ReLU}
	var err error
	if u.convOutShape, err = backend.ConvOutputShape(u.conv, inShape); err != nil {
		return nil, err
	}
	if u.convOut, err = tr.newBuffer(u.convOutShape); err != nil {
		return nil, err
	}
	vec := tensor.Shape{1, u.conv.OutChannels, 1, 1}
	if u.saveMean, err = tr.newBuffer(vec); err != nil {
		return nil, err
	}
	if u.saveInvStd, err = tr.newBuffer(vec); err != nil {
		return nil, err
	}
	return u, nil
}

// forward runs the unit from x into its output buffer.
func (tr *Trainer) forwardUnit(u *unit, x backend.Buffer) error {
	if err := tr.be.Conv2DForward(u.conv, x, u.weight.value, u.convOut); err != nil {
		return err
	}
	return tr.be.BatchNormForwardTraining(u.norm, u.convOut, u.out, u.gamma.value,
		u.beta.value, u.mean.value, u.variance.value, u.saveMean, u.saveInvStd,
		BatchNormFactor)
}

// backwardUnit computes the unit's parameter gradients from dOut, the gradient of its output,
// and adds (or, without accumulate, writes) the gradient of its input x into dx. dConv is
// scratch of the conv output's shape. A nil dx skips the input gradient.
func (tr *Trainer) backwardUnit(u *unit, x, dOut, dConv, dx backend.Buffer,
	accumulate bool) error {
	if err := tr.be.BatchNormBackward(u.norm, u.convOut, u.out, dOut, u.gamma.value,
		u.beta.value, u.saveMean, u.saveInvStd, dConv, u.gamma.grad, u.beta.grad); err != nil {
		return err
	}
	if err := tr.be.Conv2DBackwardFilter(u.conv, x, dConv, u.weight.grad); err != nil {
		return err
	}
	if dx == nil {
		return nil
	}
	return tr.be.Conv2DBackwardData(u.conv, u.weight.value, dConv, dx, accumulate)
}
