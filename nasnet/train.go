package nasnet

import (
	"fmt"
	"math"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/nn"
	"github.com/renasgo/renas/tensor"
)

// BatchNormFactor is the weight of the batch statistics in the running ones, as MindSpore's
// momentum 0.9 defines it: moving = 0.9·moving + 0.1·batch.
const BatchNormFactor = 0.1

// Optimizer selects the update rule of a Trainer.
type Optimizer uint8

// Optimizers.
const (
	SGD Optimizer = iota
	Adam
)

// TrainConfig holds the hyper-parameters of a Trainer that stay fixed during training.
type TrainConfig struct {
	BatchSize int
	Optimizer Optimizer
	// Momentum and Nesterov configure SGD.
	Momentum float32
	Nesterov bool
	// WeightDecay applies to convolution and dense weights only.
	WeightDecay float32
	// LabelSmoothing mixes the one-hot target with the uniform distribution.
	LabelSmoothing float32
	// Beta1, Beta2 and Eps configure Adam.
	Beta1, Beta2, Eps float32
	// GradClipNorm, when positive, is the largest L2 norm of all gradients taken together.
	// A step whose norm is larger scales every gradient by GradClipNorm/(norm + 1e-6) before
	// the update, as PyTorch's clip_grad_norm_ does. Zero turns clipping off.
	GradClipNorm float32
	// Precision is the arithmetic of the convolutions and of the stored weights and
	// gradients; see Precision.
	Precision Precision
	// LossScale and LossScaleWindow configure the dynamic loss scaling of FP16: the initial
	// scale (0: DefaultLossScale) and the number of clean steps after which the scale
	// doubles (0: DefaultLossScaleWindow).
	LossScale       float32
	LossScaleWindow int
}

// Trainer runs training steps of a network on a backend. Between steps the parameters live
// on the backend; SyncToHost copies them back into the Network. A Trainer is not safe for
// concurrent use.
type Trainer struct {
	be    backend.Trainer
	net   *Network
	cfg   TrainConfig
	steps int // optimizer steps taken, for Adam's bias correction
	// scaler is the dynamic loss scaling of an FP16 run.
	scaler lossScaler

	params      []*param
	paramByName map[string]*param
	stats       []*statistic
	statByName  map[string]*statistic

	input    backend.Buffer
	stem     *unit
	stageIn  [3]backend.Buffer
	cells    [3][3]*trainCell
	grads    [3]*gradients
	modules  [3][3]*trainModule // the NAS-Bench-101 modules, when the network has a Cell
	avgOut   backend.Buffer
	logits   backend.Buffer
	dLogits  backend.Buffer
	dAvg     backend.Buffer
	host     *tensor.Tensor // logits on the host
	hostGrad *tensor.Tensor // logit gradients on the host

	down, avg, maxPool3       backend.PoolDesc
	downOp, avgOp, maxPool3Op backend.Op
}

// NewTrainer prepares net for training on b with a fixed batch size. It copies the
// parameters to the backend.
func NewTrainer(b backend.Backend, net *Network, cfg TrainConfig) (*Trainer, error) {
	be, ok := b.(backend.Trainer)
	if !ok {
		return nil, fmt.Errorf("train: platform %s cannot train", b.Platform())
	}
	if cfg.BatchSize <= 0 {
		return nil, fmt.Errorf("train: batch size must be positive, got %d", cfg.BatchSize)
	}
	tr := &Trainer{be: be, net: net, cfg: cfg, paramByName: map[string]*param{},
		statByName: map[string]*statistic{},
		down: backend.PoolDesc{Kind: backend.MaxPool, KernelH: 2, KernelW: 2, StrideH: 2,
			StrideW: 2, Padding: backend.Valid},
		avg: backend.PoolDesc{Kind: backend.AvgPool, KernelH: 8, KernelW: 8, StrideH: 8,
			StrideW: 8, Padding: backend.Valid},
		maxPool3: backend.PoolDesc{Kind: backend.MaxPool, KernelH: 3, KernelW: 3, StrideH: 1,
			StrideW: 1, Padding: backend.Same},
	}
	if err := checkPrecision(be, cfg); err != nil {
		return nil, err
	}
	if err := tr.buildParams(net); err != nil {
		return nil, err
	}
	if cfg.Precision == FP16 {
		tr.scaler = newLossScaler(cfg)
		for _, p := range tr.params {
			if !p.decay {
				continue
			}
			if err := tr.newHalfWeight(p); err != nil {
				return nil, err
			}
		}
	}
	var err error
	for _, p := range []struct {
		op   *backend.Op
		desc backend.PoolDesc
	}{{&tr.downOp, tr.down}, {&tr.avgOp, tr.avg}, {&tr.maxPool3Op, tr.maxPool3}} {
		if *p.op, err = be.NewPool(p.desc); err != nil {
			return nil, err
		}
	}
	build := tr.buildGraph
	if net.Cell != nil {
		build = tr.buildModules
	}
	if err := build(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return tr, nil
}

// buildGraph allocates the units and activations of every layer.
func (tr *Trainer) buildGraph() error {
	n, c := tr.cfg.BatchSize, tr.net.Width
	var err error
	alloc := func(ch, side int) backend.Buffer {
		if err != nil {
			return nil
		}
		var b backend.Buffer
		b, err = tr.be.NewBuffer(n, ch, side, side)
		return b
	}
	halves := func(b backend.Buffer) (h [2]backend.Buffer) {
		if err != nil {
			return h
		}
		if h[0], err = tr.be.ChannelView(b, 0, c/2); err != nil {
			return h
		}
		h[1], err = tr.be.ChannelView(b, c/2, c)
		return h
	}
	tr.input = alloc(3, ImageSize)
	if err != nil {
		return err
	}
	if tr.stem, err = tr.newUnit("conv1", "bn1", tr.net.Conv1,
		tensor.Shape{n, 3, ImageSize, ImageSize}); err != nil {
		return err
	}
	for s, side := range []int{32, 16, 8} {
		tr.stageIn[s] = alloc(c, side)
		g := &gradients{}
		for _, b := range []*backend.Buffer{&g.maxPool, &g.o1, &g.o2, &g.o2p, &g.o3, &g.o4,
			&g.in, &g.out, &g.full} {
			*b = alloc(c, side)
		}
		g.half = alloc(c/2, side)
		g.o1Halves, g.o2pHalves = halves(g.o1), halves(g.o2p)
		g.inHalves, g.outHalves = halves(g.in), halves(g.out)
		tr.grads[s] = g
		x := tr.stageIn[s]
		for i := range tr.cells[s] {
			if err != nil {
				return err
			}
			cell, err := tr.newCell(s, i, x, side)
			if err != nil {
				return err
			}
			tr.cells[s][i] = cell
			x = cell.out
		}
	}
	tr.stem.out = tr.stageIn[0]
	if err != nil {
		return err
	}
	return tr.buildHead(c)
}

// buildHead allocates the buffers of the average pool and dense layer on c channels.
func (tr *Trainer) buildHead(c int) error {
	n := tr.cfg.BatchSize
	var err error
	for _, b := range []struct {
		buf *backend.Buffer
		c   int
	}{{&tr.avgOut, c}, {&tr.logits, NumClasses}, {&tr.dLogits, NumClasses}, {&tr.dAvg, c}} {
		if *b.buf, err = tr.be.NewBuffer(n, b.c, 1, 1); err != nil {
			return err
		}
	}
	tr.host = tensor.Zeros(n, NumClasses)
	tr.hostGrad = tensor.Zeros(n, NumClasses, 1, 1)
	return nil
}

func (tr *Trainer) newCell(s, i int, x backend.Buffer, side int) (*trainCell, error) {
	n, c := tr.cfg.BatchSize, tr.net.Width
	cell := &trainCell{x: x}
	bufs := []*backend.Buffer{&cell.maxPool, &cell.o1, &cell.o2, &cell.o2p, &cell.o3, &cell.o4,
		&cell.out}
	for _, b := range bufs {
		var err error
		if *b, err = tr.be.NewBuffer(n, c, side, side); err != nil {
			return nil, err
		}
	}
	in := tensor.Shape{n, c, side, side}
	layers := tr.net.Blocks[s][i]
	prefix := fmt.Sprintf("block%d.%d.", s+1, i)
	var err error
	for k := range cell.cbr {
		cell.cbr[k], err = tr.newUnit(fmt.Sprintf("%sconv3x3_%d", prefix, k+1),
			fmt.Sprintf("%sbn3x3_%d", prefix, k+1), layers.CBR[k], in)
		if err != nil {
			return nil, err
		}
	}
	for k := range cell.proj {
		cell.proj[k], err = tr.newUnit(fmt.Sprintf("%sproj%d", prefix, k+1),
			fmt.Sprintf("%sbn%d", prefix, k+1), layers.Proj[k], in)
		if err != nil {
			return nil, err
		}
	}
	views := func(b backend.Buffer) (h [2]backend.Buffer) {
		if err != nil {
			return h
		}
		if h[0], err = tr.be.ChannelView(b, 0, c/2); err != nil {
			return h
		}
		h[1], err = tr.be.ChannelView(b, c/2, c)
		return h
	}
	o1, o2p, out := views(cell.o1), views(cell.o2p), views(cell.out)
	if err != nil {
		return nil, err
	}
	cell.proj[0].out, cell.proj[1].out = o1[0], o1[1]
	cell.cbr[0].out = cell.o2
	cell.proj[2].out, cell.proj[3].out = o2p[0], o2p[1]
	cell.cbr[1].out = cell.o3
	cell.cbr[2].out = cell.o4
	cell.proj[4].out, cell.proj[5].out = out[0], out[1]
	return cell, nil
}

// Step runs one training step on a batch of preprocessed images x [BatchSize, 3, 32, 32] with
// their labels, at learning rate lr. It returns the mean loss and the number of images
// whose top-1 prediction was right (both from the forward pass before the update).
func (tr *Trainer) Step(x *tensor.Tensor, labels []uint8, lr float32) (float64, int, error) {
	if len(labels) != tr.cfg.BatchSize {
		return 0, 0, fmt.Errorf("train: %d labels for batch size %d", len(labels),
			tr.cfg.BatchSize)
	}
	if err := tr.be.Upload(tr.input, x); err != nil {
		return 0, 0, err
	}
	if err := tr.forward(); err != nil {
		return 0, 0, err
	}
	if err := tr.be.Download(tr.host, tr.logits); err != nil {
		return 0, 0, err
	}
	loss, correct := tr.lossGradient(labels)
	fp16 := tr.cfg.Precision == FP16
	if fp16 {
		grad := tr.hostGrad.Float32s()
		for i := range grad {
			grad[i] *= float32(tr.scaler.scale)
		}
	}
	if err := tr.be.Upload(tr.dLogits, tr.hostGrad); err != nil {
		return 0, 0, err
	}
	if err := tr.backward(); err != nil {
		return 0, 0, err
	}
	if fp16 {
		ok, err := tr.unscaleGradients()
		if err != nil || !ok {
			return loss, correct, err
		}
	}
	tr.steps++
	if err := tr.update(lr); err != nil {
		return 0, 0, err
	}
	return loss, correct, tr.be.Sync()
}

// lossGradient computes the label-smoothed softmax cross-entropy of the host logits, averaged
// over the batch, and writes its gradient with respect to the logits into hostGrad.
func (tr *Trainer) lossGradient(labels []uint8) (float64, int) {
	n := tr.cfg.BatchSize
	eps := float64(tr.cfg.LabelSmoothing)
	logits, grad := tr.host.Float32s(), tr.hostGrad.Float32s()
	var loss float64
	correct := 0
	for i := range n {
		row := logits[i*NumClasses : (i+1)*NumClasses]
		label := int(labels[i])
		m := math.Inf(-1)
		best := 0
		for k, v := range row {
			if float64(v) > m {
				m, best = float64(v), k
			}
		}
		if best == label {
			correct++
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v) - m)
		}
		logSum := m + math.Log(sum)
		for k, v := range row {
			target := eps / NumClasses
			if k == label {
				target += 1 - eps
			}
			logP := float64(v) - logSum
			loss -= target * logP
			grad[i*NumClasses+k] = float32((math.Exp(logP) - target) / float64(n))
		}
	}
	return loss / float64(n), correct
}

func (tr *Trainer) forward() error {
	if err := tr.forwardUnit(tr.stem, tr.input); err != nil {
		return fmt.Errorf("stem: %w", err)
	}
	if tr.net.Cell != nil {
		return tr.forwardModules()
	}
	for s := range tr.cells {
		if s > 0 {
			if err := tr.downOp.Run(tr.cells[s-1][2].out, tr.stageIn[s]); err != nil {
				return err
			}
		}
		for i, cell := range tr.cells[s] {
			if err := tr.forwardCell(cell); err != nil {
				return fmt.Errorf("block%d.%d: %w", s+1, i, err)
			}
		}
	}
	if err := tr.avgOp.Run(tr.cells[2][2].out, tr.avgOut); err != nil {
		return err
	}
	head := tr.paramByName
	return tr.be.LinearForward(tr.avgOut, head["linear.weight"].value,
		head["linear.bias"].value, tr.logits)
}

func (tr *Trainer) forwardCell(c *trainCell) error {
	if err := tr.maxPool3Op.Run(c.x, c.maxPool); err != nil {
		return err
	}
	steps := []struct {
		u *unit
		x backend.Buffer
	}{
		{c.proj[0], c.maxPool}, {c.proj[1], c.x}, {c.cbr[0], c.o1}, {c.proj[2], c.o2},
		{c.proj[3], c.x}, {c.cbr[1], c.o2p}, {c.cbr[2], c.x}, {c.proj[4], c.o3},
		{c.proj[5], c.o4},
	}
	for _, s := range steps {
		if err := tr.forwardUnit(s.u, s.x); err != nil {
			return err
		}
	}
	return nil
}

func (tr *Trainer) backward() error {
	if tr.net.Cell != nil {
		return tr.backwardModules()
	}
	head := tr.paramByName
	w, b := head["linear.weight"], head["linear.bias"]
	if err := tr.be.LinearBackward(tr.avgOut, w.value, tr.dLogits, tr.dAvg, w.grad, b.grad,
		false); err != nil {
		return err
	}
	g := tr.grads[2]
	if err := tr.be.PoolBackward(tr.avg, tr.cells[2][2].out, tr.dAvg, g.out, false); err != nil {
		return err
	}
	for s := 2; s >= 0; s-- {
		g := tr.grads[s]
		for i := 2; i >= 0; i-- {
			if err := tr.backwardCell(tr.cells[s][i], g); err != nil {
				return fmt.Errorf("block%d.%d backward: %w", s+1, i, err)
			}
			// The input gradient of this cell is the output gradient of the one before.
			g.in, g.out = g.out, g.in
			g.inHalves, g.outHalves = g.outHalves, g.inHalves
		}
		if s > 0 {
			if err := tr.be.PoolBackward(tr.down, tr.cells[s-1][2].out, g.out,
				tr.grads[s-1].out, false); err != nil {
				return err
			}
		}
	}
	return tr.backwardUnit(tr.stem, tr.input, tr.grads[0].out, tr.grads[0].full, nil, false)
}

// backwardCell computes the gradients of one cell from g.out and writes its input gradient
// into g.in, in the reverse order of forwardCell.
func (tr *Trainer) backwardCell(c *trainCell, g *gradients) error {
	steps := []struct {
		u         *unit
		x, dOut   backend.Buffer
		dx        backend.Buffer
		accumlate bool
	}{
		{c.proj[5], c.o4, g.outHalves[1], g.o4, false},
		{c.proj[4], c.o3, g.outHalves[0], g.o3, false},
		{c.cbr[2], c.x, g.o4, g.in, false},
		{c.cbr[1], c.o2p, g.o3, g.o2p, false},
		{c.proj[3], c.x, g.o2pHalves[1], g.in, true},
		{c.proj[2], c.o2, g.o2pHalves[0], g.o2, false},
		{c.cbr[0], c.o1, g.o2, g.o1, false},
		{c.proj[1], c.x, g.o1Halves[1], g.in, true},
		{c.proj[0], c.maxPool, g.o1Halves[0], g.maxPool, false},
	}
	for _, s := range steps {
		dConv := g.full
		if s.u.conv.OutChannels != tr.net.Width {
			dConv = g.half
		}
		if err := tr.backwardUnit(s.u, s.x, s.dOut, dConv, s.dx, s.accumlate); err != nil {
			return err
		}
	}
	return tr.be.PoolBackward(tr.maxPool3, c.x, g.maxPool, g.in, true)
}

// update clips the gradients when GradClipNorm is set, then applies the optimizer
// to every parameter.
func (tr *Trainer) update(lr float32) error {
	cfg := tr.cfg
	if cfg.GradClipNorm > 0 {
		if err := tr.clipGradients(cfg.GradClipNorm); err != nil {
			return err
		}
	}
	for _, p := range tr.params {
		wd := float32(0)
		if p.decay {
			wd = cfg.WeightDecay
		}
		value := p.value
		if p.half != nil {
			value = p.half.master
		}
		var err error
		switch cfg.Optimizer {
		case SGD:
			err = tr.be.SGDUpdate(value, p.grad, p.state[0], lr, cfg.Momentum, wd, cfg.Nesterov)
		case Adam:
			err = tr.be.AdamUpdate(value, p.grad, p.state[0], p.state[1], lr, cfg.Beta1,
				cfg.Beta2, cfg.Eps, wd, tr.steps)
		default:
			err = fmt.Errorf("unknown optimizer %d", cfg.Optimizer)
		}
		if err == nil && p.half != nil {
			err = tr.roundFloat16(p, p.value, value)
		}
		if err != nil {
			return fmt.Errorf("update %s: %w", p.name, err)
		}
	}
	return nil
}

// clipGradients scales all gradients by maxNorm/(norm + 1e-6) when their global L2 norm is
// larger than maxNorm.
func (tr *Trainer) clipGradients(maxNorm float32) error {
	var sumSq float64
	for _, p := range tr.params {
		s, err := tr.be.SumSquares(p.grad)
		if err != nil {
			return fmt.Errorf("gradient norm of %s: %w", p.name, err)
		}
		sumSq += s
	}
	norm := math.Sqrt(sumSq)
	coef := float64(maxNorm) / (norm + 1e-6)
	if coef >= 1 {
		return nil
	}
	for _, p := range tr.params {
		if err := tr.be.Scale(p.grad, float32(coef)); err != nil {
			return fmt.Errorf("clip gradient of %s: %w", p.name, err)
		}
	}
	return nil
}

// SyncToHost copies the parameters and running statistics from the backend into the Network.
func (tr *Trainer) SyncToHost() error {
	for _, p := range tr.params {
		value := p.value
		if p.half != nil {
			value = p.half.master
		}
		if err := tr.be.Download(p.host, value); err != nil {
			return err
		}
	}
	for _, s := range tr.stats {
		if err := tr.be.Download(s.host, s.value); err != nil {
			return err
		}
	}
	return tr.be.Sync()
}

// Steps returns the number of optimizer steps taken, including those restored by
// LoadOptimizerState.
func (tr *Trainer) Steps() int { return tr.steps }

// optimizerStateNames returns the checkpoint names of a parameter's optimizer state. SGD's
// velocity uses MindSpore's "moments." prefix; Adam's moments use "adam_m." and "adam_v.".
func (tr *Trainer) optimizerStateNames(p *param) []string {
	if tr.cfg.Optimizer == Adam {
		return []string{"adam_m." + p.name, "adam_v." + p.name}
	}
	return []string{"moments." + p.name}
}

// OptimizerState returns copies of the optimizer's buffers and the step count ("global_step",
// as a one-element tensor), named as checkpoints store them. An FP16 run adds the loss scale
// and its count of clean steps ("loss_scale.value" and "loss_scale.clean_steps").
func (tr *Trainer) OptimizerState() ([]nn.NamedTensor, error) {
	var out []nn.NamedTensor
	for _, p := range tr.params {
		for k, name := range tr.optimizerStateNames(p) {
			t := tensor.Zeros(p.host.Shape()...)
			if err := tr.be.Download(t, p.state[k]); err != nil {
				return nil, err
			}
			out = append(out, nn.NamedTensor{Name: name, Tensor: t})
		}
	}
	scalars := []checkpointScalar{{"global_step", float64(tr.steps)}}
	if tr.cfg.Precision == FP16 {
		// The scale is a power of two and the count below the window, both exact in float32.
		scalars = append(scalars, checkpointScalar{lossScaleName, tr.scaler.scale},
			checkpointScalar{lossScaleCleanName, float64(tr.scaler.clean)})
	}
	for _, sc := range scalars {
		t, err := tensor.FromFloat32([]float32{float32(sc.value)}, 1)
		if err != nil {
			return nil, err
		}
		out = append(out, nn.NamedTensor{Name: sc.name, Tensor: t})
	}
	return out, tr.be.Sync()
}

// checkpointScalar is a value that a checkpoint stores as a one-element tensor.
type checkpointScalar struct {
	name  string
	value float64
}

// The checkpoint names of the loss scaler's state in an FP16 run.
const (
	lossScaleName      = "loss_scale.value"
	lossScaleCleanName = "loss_scale.clean_steps"
)

// LoadOptimizerState restores what OptimizerState returned. Every buffer must be present with
// its parameter's shape.
func (tr *Trainer) LoadOptimizerState(tensors map[string]*tensor.Tensor) error {
	step, ok := tensors["global_step"]
	if !ok || step.Len() != 1 {
		return fmt.Errorf("optimizer state: missing global_step")
	}
	for _, p := range tr.params {
		for k, name := range tr.optimizerStateNames(p) {
			t, ok := tensors[name]
			if !ok {
				return fmt.Errorf("optimizer state: missing %s", name)
			}
			if !t.Shape().Equal(p.host.Shape()) {
				return fmt.Errorf("optimizer state: %s has shape %v, want %v", name,
					t.Shape(), p.host.Shape())
			}
			flat, err := t.ToFloat32().Reshape(bufferShape(p.host.Shape())...)
			if err != nil {
				return err
			}
			if err := tr.be.Upload(p.state[k], flat); err != nil {
				return err
			}
		}
	}
	if tr.cfg.Precision == FP16 {
		for _, name := range []string{lossScaleName, lossScaleCleanName} {
			if t, ok := tensors[name]; !ok || t.Len() != 1 {
				return fmt.Errorf("optimizer state: missing %s", name)
			}
		}
		scale := float64(tensors[lossScaleName].ToFloat32().Float32s()[0])
		clean := int(tensors[lossScaleCleanName].ToFloat32().Float32s()[0])
		if !(scale > 0) || math.IsInf(scale, 0) || clean < 0 || clean >= tr.scaler.window {
			return fmt.Errorf("optimizer state: loss scale %v after %d clean steps is out of "+
				"range", scale, clean)
		}
		tr.scaler.scale, tr.scaler.clean = scale, clean
	}
	tr.steps = int(step.ToFloat32().Float32s()[0])
	return nil
}
