package nasnet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/nasnet/cifar10"
	"github.com/renasgo/renas/nasnet/nasbench"
	"github.com/renasgo/renas/nn"
	"github.com/renasgo/renas/tensor"
)

// dataStream is the second word of the PCG generator that orders and augments the training
// data. The first word is the seed, and the weights use a generator of their own (see New),
// so the data order does not repeat the initialisation's random numbers.
const dataStream = 0x646174612f617567

// LoopConfig is the configuration of a training run. A checkpoint stores all of it, and a
// run resumes only with the same values, because each of them changes the weights.
type LoopConfig struct {
	Width int
	// Cell, when set, trains the NAS-Bench-101 network around it (see NewBench101) in
	// place of the ReNAS network.
	Cell   *nasbench.Spec
	Epochs int
	// WarmupEpochs is the length of the linear learning-rate warm-up; see CosineSchedule.
	WarmupEpochs int
	// LR is the peak learning rate, reached at the end of the warm-up.
	LR float64
	// Seed seeds the initial weights and the order and augmentation of the training data.
	Seed uint64
	// Cutout is the side in pixels of the square that Cutout augmentation sets to 0, the mean
	// after normalization, in every training image (see Augmentation). Zero turns it off.
	Cutout int
	Train  TrainConfig
}

// Validate returns an error naming the first invalid field.
func (c LoopConfig) Validate() error {
	switch {
	case c.Width <= 0 || c.Width%2 != 0:
		return fmt.Errorf("width must be a positive even number, got %d", c.Width)
	case c.Epochs <= 0:
		return fmt.Errorf("epochs must be positive, got %d", c.Epochs)
	case c.WarmupEpochs < 0 || c.WarmupEpochs > c.Epochs:
		return fmt.Errorf("warm-up epochs must be from 0 to the %d epochs, got %d", c.Epochs,
			c.WarmupEpochs)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("learning rate must be a positive finite number, got %v", c.LR)
	case c.Cutout < 0 || c.Cutout > ImageSize:
		return fmt.Errorf("cutout must be from 0 to %d pixels, got %d", ImageSize, c.Cutout)
	case c.Train.BatchSize <= 0:
		return fmt.Errorf("batch size must be positive, got %d", c.Train.BatchSize)
	case c.Train.Optimizer != SGD && c.Train.Optimizer != Adam:
		return fmt.Errorf("unknown optimizer %d", c.Train.Optimizer)
	case !(c.Train.LabelSmoothing >= 0 && c.Train.LabelSmoothing < 1):
		return fmt.Errorf("label smoothing must be in [0, 1), got %v", c.Train.LabelSmoothing)
	case !(c.Train.WeightDecay >= 0) || math.IsInf(float64(c.Train.WeightDecay), 1):
		return fmt.Errorf("weight decay must be 0 or a positive finite number, got %v",
			c.Train.WeightDecay)
	case !(c.Train.Momentum >= 0 && c.Train.Momentum < 1):
		return fmt.Errorf("momentum must be in [0, 1), got %v", c.Train.Momentum)
	case !(c.Train.GradClipNorm >= 0) || math.IsInf(float64(c.Train.GradClipNorm), 1):
		return fmt.Errorf("gradient clipping norm must be 0 or a positive finite number, "+
			"got %v", c.Train.GradClipNorm)
	case c.Train.Precision > FP16:
		return fmt.Errorf("unknown precision %d", c.Train.Precision)
	case !(c.Train.LossScale >= 0) || math.IsInf(float64(c.Train.LossScale), 1):
		return fmt.Errorf("loss scale must be 0 or a positive finite number, got %v",
			c.Train.LossScale)
	case c.Train.LossScaleWindow < 0:
		return fmt.Errorf("loss scale window must be 0 or positive, got %d",
			c.Train.LossScaleWindow)
	}
	return nil
}

// EpochMetrics are the results of one training epoch. Accuracies are fractions. The test
// fields are zero when the loop runs without a test set.
type EpochMetrics struct {
	Epoch     int     `json:"epoch"` // counted from 1
	LR        float64 `json:"lr"`    // learning rate of the epoch's last step
	TrainLoss float64 `json:"train_loss"`
	TrainTop1 float64 `json:"train_top1"`
	TestLoss  float64 `json:"test_loss"`
	TestTop1  float64 `json:"test_top1"`
	// TestImages is the number of test images evaluated.
	TestImages int `json:"test_images"`
	// Seconds and ImagesPerSecond time the training steps, data preparation included;
	// TestSeconds times the evaluation.
	Seconds         float64 `json:"seconds"`
	ImagesPerSecond float64 `json:"images_per_second"`
	TestSeconds     float64 `json:"test_seconds"`
}

// StepProgress reports the progress of an epoch after each step. Loss and Top1 are running
// means over the epoch's steps so far.
type StepProgress struct {
	Epoch, Step, Steps int // Epoch and Step count from 1
	Loss, Top1, LR     float64
}

// RunOptions configure Run and RunEpoch. Only Checkpoint changes what a run computes.
type RunOptions struct {
	// Checkpoint is the .safetensors file written after every epoch; empty writes none.
	Checkpoint string
	// CheckpointInterval, when positive, also writes Checkpoint inside an epoch, after the
	// first step that ends this long after the last write, so that a killed run loses at
	// most about this much work. Resuming from such a checkpoint continues at its step.
	CheckpointInterval time.Duration
	// Test, if not nil, is evaluated after every epoch, on the first EvalLimit images
	// (0: all) in batches of EvalBatchSize (0: the training batch size).
	Test          *cifar10.Set
	EvalLimit     int
	EvalBatchSize int
	// OnStep, if not nil, is called after every training step.
	OnStep func(StepProgress)
	// OnEval, if not nil, is called with the number of test images done after each batch.
	OnEval func(done int)
	// OnEpoch, if not nil, is called by Run after every epoch, once its checkpoint is
	// written. An error from it stops Run.
	OnEpoch func(EpochMetrics) error
}

// TrainLoop trains a network on CIFAR-10 for a number of epochs: the cosine schedule of
// CosineSchedule, data shuffled and augmented (see Augmentation) anew each epoch, the last
// partial batch dropped, a test evaluation and a checkpoint after each epoch. The same
// configuration and training set give bit-identical weights, also when a run is resumed
// from a checkpoint, provided the backend itself is deterministic.
type TrainLoop struct {
	cfg      LoopConfig
	be       backend.Backend
	net      *Network
	trainer  *Trainer
	train    *cifar10.Set
	pcg      *rand.PCG
	rng      *rand.Rand
	schedule CosineSchedule
	steps    int // training steps per epoch
	epoch    int // completed epochs
	// step counts the steps done of the epoch in progress, and partial contains their sums.
	step    int
	partial partialEpoch
	// epochStart is the generator state before the epoch in progress drew its plan.
	epochStart []byte
	history    []EpochMetrics
	saved      bool
	// failed is set when an epoch stops part-way, which leaves the weights and the
	// generator of the data between two epochs.
	failed error
}

// NewTrainLoop prepares a run of cfg on train from freshly initialised weights.
func NewTrainLoop(be backend.Backend, cfg LoopConfig, train *cifar10.Set) (*TrainLoop, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("train loop: %w", err)
	}
	net, err := newNetwork(cfg.Cell, cfg.Width, cfg.Seed)
	if err != nil {
		return nil, err
	}
	return NewTrainLoopFrom(be, cfg, train, net)
}

// NewTrainLoopFrom starts a run from the weights of net, such as a checkpoint to fine-tune,
// in place of the seeded initialization; net.Width must equal cfg.Width. The seed still
// sets the data order and augmentation.
func NewTrainLoopFrom(be backend.Backend, cfg LoopConfig, train *cifar10.Set,
	net *Network) (*TrainLoop, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("train loop: %w", err)
	}
	if net.Width != cfg.Width {
		return nil, fmt.Errorf("train loop: the initial network has width %d, the run %d",
			net.Width, cfg.Width)
	}
	if cellCode(net.Cell) != cellCode(cfg.Cell) {
		return nil, fmt.Errorf("train loop: the initial network has cell %s, the run %s",
			cellName(net.Cell), cellName(cfg.Cell))
	}
	if train.Len() < cfg.Train.BatchSize {
		return nil, fmt.Errorf("train loop: the training set has %d images, fewer than the "+
			"batch size %d", train.Len(), cfg.Train.BatchSize)
	}
	var err error
	l := &TrainLoop{cfg: cfg, be: be, net: net, train: train,
		pcg: rand.NewPCG(cfg.Seed, dataStream), steps: train.Len() / cfg.Train.BatchSize}
	l.rng = rand.New(l.pcg)
	l.schedule = CosineSchedule{BaseLR: cfg.LR, WarmupSteps: cfg.WarmupEpochs * l.steps,
		TotalSteps: cfg.Epochs * l.steps}
	if l.trainer, err = NewTrainer(be, net, cfg.Train); err != nil {
		return nil, err
	}
	return l, nil
}

// Config returns the configuration of the run.
func (l *TrainLoop) Config() LoopConfig { return l.cfg }

// Epoch returns the number of completed epochs.
func (l *TrainLoop) Epoch() int { return l.epoch }

// StepsPerEpoch returns the number of training steps of one epoch.
func (l *TrainLoop) StepsPerEpoch() int { return l.steps }

// Network returns the network, whose host weights are those of the last completed epoch.
func (l *TrainLoop) Network() *Network { return l.net }

// Trainer returns the trainer that updates the network.
func (l *TrainLoop) Trainer() *Trainer { return l.trainer }

// Step returns the number of steps done in the epoch in progress: 0 between epochs, and
// more after resuming from a checkpoint written inside an epoch.
func (l *TrainLoop) Step() int { return l.step }

// Saved reports whether the loop has written a checkpoint.
func (l *TrainLoop) Saved() bool { return l.saved }

// History returns the metrics of every completed epoch, including those before a resume.
func (l *TrainLoop) History() []EpochMetrics { return slices.Clone(l.history) }

// Run trains the remaining epochs. It checks ctx before every step and returns an error
// wrapping ctx.Err() when ctx ends: the checkpoint is then the last one written, after an
// epoch or inside one (see RunOptions.CheckpointInterval), and the TrainLoop cannot continue
// (resume from the checkpoint instead).
func (l *TrainLoop) Run(ctx context.Context, opt RunOptions) error {
	for l.epoch < l.cfg.Epochs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped before epoch %d: %w", l.epoch+1, err)
		}
		m, err := l.RunEpoch(ctx, opt)
		if err != nil {
			return err
		}
		if opt.OnEpoch != nil {
			if err := opt.OnEpoch(m); err != nil {
				return err
			}
		}
	}
	return nil
}

// RunEpoch trains one epoch, copies the weights to the host, evaluates opt.Test and writes
// opt.Checkpoint. Once the last step is done, the evaluation and the checkpoint run even if
// ctx ends.
func (l *TrainLoop) RunEpoch(ctx context.Context, opt RunOptions) (EpochMetrics, error) {
	m := EpochMetrics{Epoch: l.epoch + 1}
	if l.failed != nil {
		return m, fmt.Errorf("train loop: an earlier epoch stopped part-way (%v); resume "+
			"from the checkpoint", l.failed)
	}
	if l.epoch >= l.cfg.Epochs {
		return m, fmt.Errorf("train loop: all %d epochs are done", l.cfg.Epochs)
	}
	if err := l.trainEpoch(ctx, opt, &m); err != nil {
		l.failed = err
		return m, err
	}
	if err := l.trainer.SyncToHost(); err != nil {
		l.failed = err
		return m, err
	}
	if opt.Test != nil {
		if err := l.evaluate(opt, &m); err != nil {
			l.failed = err
			return m, err
		}
	}
	l.epoch++
	l.history = append(l.history, m)
	if opt.Checkpoint != "" {
		if err := l.SaveCheckpoint(opt.Checkpoint); err != nil {
			return m, err
		}
	}
	return m, nil
}

// trainEpoch runs the steps of one epoch, with the next batch prepared while a step runs.
func (l *TrainLoop) trainEpoch(ctx context.Context, opt RunOptions, m *EpochMetrics) error {
	n := l.cfg.Train.BatchSize
	if l.step == 0 {
		state, err := l.pcg.MarshalBinary()
		if err != nil {
			return err
		}
		l.epochStart = state
	}
	plan := drawEpochPlan(l.rng, l.train.Len(), l.steps*n, l.cfg.Cutout)
	start := time.Now()
	lastSave := start
	loader := startBatchLoader(ctx, l.train, plan, n, l.step)
	defer loader.stop()

	for i := l.step; i < l.steps; i++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("epoch %d stopped after %d of %d steps: %w", m.Epoch, i,
				l.steps, err)
		}
		bt, ok := <-loader.ready
		if !ok {
			// The loader stops early only when ctx ends.
			return fmt.Errorf("epoch %d stopped after %d of %d steps: %w", m.Epoch, i,
				l.steps, ctx.Err())
		}

		m.LR = l.schedule.LR(l.epoch*l.steps + i)
		stepLoss, stepCorrect, err := l.trainer.Step(bt.x, bt.labels, float32(m.LR))
		loader.release(bt)
		if err != nil {
			return fmt.Errorf("epoch %d step %d: %w", m.Epoch, i+1, err)
		}
		if math.IsNaN(stepLoss) || math.IsInf(stepLoss, 0) {
			return fmt.Errorf("epoch %d step %d: loss is %v; lower the learning rate",
				m.Epoch, i+1, stepLoss)
		}

		l.step = i + 1
		l.partial.loss += stepLoss
		l.partial.correct += stepCorrect
		if opt.OnStep != nil {
			opt.OnStep(StepProgress{Epoch: m.Epoch, Step: l.step, Steps: l.steps,
				Loss: l.partial.loss / float64(l.step),
				Top1: float64(l.partial.correct) / float64(l.step*n), LR: m.LR})
		}
		if opt.Checkpoint != "" && opt.CheckpointInterval > 0 && l.step < l.steps &&
			time.Since(lastSave) >= opt.CheckpointInterval {
			now := time.Now()
			l.partial.seconds += now.Sub(start).Seconds()
			start, lastSave = now, now
			if err := l.trainer.SyncToHost(); err != nil {
				return err
			}
			if err := l.SaveCheckpoint(opt.Checkpoint); err != nil {
				return err
			}
		}
	}

	m.Seconds = l.partial.seconds + time.Since(start).Seconds()
	m.TrainLoss = l.partial.loss / float64(l.steps)
	m.TrainTop1 = float64(l.partial.correct) / float64(l.steps*n)
	m.ImagesPerSecond = float64(l.steps*n) / m.Seconds
	l.step, l.partial = 0, partialEpoch{}
	return nil
}

// partialEpoch sums the steps done of an epoch in progress.
type partialEpoch struct {
	loss    float64
	correct int
	seconds float64 // time of the steps before the last checkpoint inside the epoch
}

func (l *TrainLoop) evaluate(opt RunOptions, m *EpochMetrics) error {
	inf, err := NewInference(l.be, l.net)
	if err != nil {
		return err
	}
	batch := opt.EvalBatchSize
	if batch == 0 {
		batch = l.cfg.Train.BatchSize
	}
	res, err := Evaluate(inf, opt.Test, EvalOptions{BatchSize: batch, Limit: opt.EvalLimit,
		Progress: opt.OnEval})
	if err != nil {
		return err
	}
	m.TestLoss, m.TestTop1 = res.Loss, res.Top1
	m.TestImages, m.TestSeconds = res.Images, res.Seconds
	return nil
}

// Training checkpoints are .safetensors files of F32 tensors. They contain the network's
// parameters and running statistics under their Network.Params names, the optimizer state
// under the names of Trainer.OptimizerState, and the loop's state as "train.*" tensors:
//
//   - one tensor per LoopConfig field, the completed epochs, the number of training images
//     and the format version. Each is a uint64 stored as four float32 values, its 16-bit
//     halves from the lowest up, so every value survives exactly. Float fields store their
//     IEEE-754 bits. The fields added after format 1 was fixed (optionalLoopFields) are
//     stored only when not zero, so that older checkpoints read them as zero;
//   - train.rng: the data generator's rand.PCG.MarshalBinary bytes, one per float32, as
//     they were before the epoch in progress drew its order and augmentation;
//   - for a checkpoint written inside an epoch, the steps done of it (train.step) and their
//     sums (train.partial_*), stored like the fields above; absent means 0;
//   - train.history: [epochs, 10] float32 rows of EpochMetrics, in checkpointHistory order;
//   - train.checksum: the CRC-32C of every other tensor (see checkpointChecksum).
//
// The metadata section of safetensors is not used, because nn.ReadSafetensors skips it.
const checkpointFormat = 1

// checkpointHistory is the column order of train.history.
var checkpointHistory = []func(m *EpochMetrics) *float64{
	func(m *EpochMetrics) *float64 { return &m.LR },
	func(m *EpochMetrics) *float64 { return &m.TrainLoss },
	func(m *EpochMetrics) *float64 { return &m.TrainTop1 },
	func(m *EpochMetrics) *float64 { return &m.TestLoss },
	func(m *EpochMetrics) *float64 { return &m.TestTop1 },
	func(m *EpochMetrics) *float64 { return &m.Seconds },
	func(m *EpochMetrics) *float64 { return &m.ImagesPerSecond },
	func(m *EpochMetrics) *float64 { return &m.TestSeconds },
}

// loopRecord is the state of a run that a checkpoint stores as scalar fields.
type loopRecord struct {
	format      uint64
	cfg         LoopConfig
	cell        uint64 // cellCode of cfg.Cell
	trainImages int
	epoch       int
	step        int
	partial     partialEpoch
}

// partialFields are the scalar fields of an epoch in progress, absent from checkpoints
// written between epochs.
var partialFields = []struct {
	name  string
	field func(r *loopRecord) any
}{
	{"train.step", func(r *loopRecord) any { return &r.step }},
	{"train.partial_loss", func(r *loopRecord) any { return &r.partial.loss }},
	{"train.partial_correct", func(r *loopRecord) any { return &r.partial.correct }},
	{"train.partial_seconds", func(r *loopRecord) any { return &r.partial.seconds }},
}

// cellField stores the cell of a NAS-Bench-101 network; checkpoints of the ReNAS network
// do not have it.
var cellField = struct {
	name  string
	field func(r *loopRecord) any
}{"train.cell", func(r *loopRecord) any { return &r.cell }}

// loopFields lists the scalar fields of a checkpoint: the tensor name and a pointer to the
// field, of one of the types that fieldBits accepts.
var loopFields = []struct {
	name  string
	field func(r *loopRecord) any
}{
	{"train.format", func(r *loopRecord) any { return &r.format }},
	{"train.epoch", func(r *loopRecord) any { return &r.epoch }},
	{"train.train_images", func(r *loopRecord) any { return &r.trainImages }},
	{"train.width", func(r *loopRecord) any { return &r.cfg.Width }},
	{"train.epochs", func(r *loopRecord) any { return &r.cfg.Epochs }},
	{"train.warmup_epochs", func(r *loopRecord) any { return &r.cfg.WarmupEpochs }},
	{"train.lr", func(r *loopRecord) any { return &r.cfg.LR }},
	{"train.seed", func(r *loopRecord) any { return &r.cfg.Seed }},
	{"train.batch_size", func(r *loopRecord) any { return &r.cfg.Train.BatchSize }},
	{"train.optimizer", func(r *loopRecord) any { return &r.cfg.Train.Optimizer }},
	{"train.momentum", func(r *loopRecord) any { return &r.cfg.Train.Momentum }},
	{"train.nesterov", func(r *loopRecord) any { return &r.cfg.Train.Nesterov }},
	{"train.weight_decay", func(r *loopRecord) any { return &r.cfg.Train.WeightDecay }},
	{"train.label_smoothing", func(r *loopRecord) any { return &r.cfg.Train.LabelSmoothing }},
	{"train.beta1", func(r *loopRecord) any { return &r.cfg.Train.Beta1 }},
	{"train.beta2", func(r *loopRecord) any { return &r.cfg.Train.Beta2 }},
	{"train.eps", func(r *loopRecord) any { return &r.cfg.Train.Eps }},
}

// optionalLoopFields are configuration fields that a checkpoint stores only when they are
// not zero, so that checkpoints written before they existed still load, as zero.
var optionalLoopFields = []struct {
	name  string
	field func(r *loopRecord) any
}{
	{"train.grad_clip_norm", func(r *loopRecord) any { return &r.cfg.Train.GradClipNorm }},
	{"train.precision", func(r *loopRecord) any { return &r.cfg.Train.Precision }},
	{"train.loss_scale", func(r *loopRecord) any { return &r.cfg.Train.LossScale }},
	{"train.loss_scale_window", func(r *loopRecord) any { return &r.cfg.Train.LossScaleWindow }},
	{"train.cutout", func(r *loopRecord) any { return &r.cfg.Cutout }},
}

// fieldBits returns the bits of the field that p points to.
func fieldBits(p any) uint64 {
	switch v := p.(type) {
	case *int:
		return uint64(*v)
	case *uint64:
		return *v
	case *float64:
		return math.Float64bits(*v)
	case *float32:
		return uint64(math.Float32bits(*v))
	case *bool:
		if *v {
			return 1
		}
		return 0
	case *Optimizer:
		return uint64(*v)
	case *Precision:
		return uint64(*v)
	}
	panic(fmt.Sprintf("train loop: field type %T has no encoding", p))
}

// setFieldBits stores bits, as fieldBits returned them, into the field that p points to.
func setFieldBits(p any, bits uint64) {
	switch v := p.(type) {
	case *int:
		*v = int(bits)
	case *uint64:
		*v = bits
	case *float64:
		*v = math.Float64frombits(bits)
	case *float32:
		*v = math.Float32frombits(uint32(bits))
	case *bool:
		*v = bits != 0
	case *Optimizer:
		*v = Optimizer(bits)
	case *Precision:
		*v = Precision(bits)
	default:
		panic(fmt.Sprintf("train loop: field type %T has no encoding", p))
	}
}

// fieldString formats the field that p points to for an error message.
func fieldString(p any) string {
	switch v := p.(type) {
	case *Optimizer:
		if *v == Adam {
			return "adam"
		}
		return "sgd"
	case *Precision:
		return v.String()
	case *int:
		return fmt.Sprint(*v)
	case *uint64:
		return fmt.Sprint(*v)
	case *float64:
		return fmt.Sprint(*v)
	case *float32:
		return fmt.Sprint(*v)
	case *bool:
		return fmt.Sprint(*v)
	}
	return fmt.Sprint(p)
}

// uint64Tensor stores v as four float32 values, its 16-bit halves from the lowest up.
func uint64Tensor(v uint64) *tensor.Tensor {
	t := tensor.Zeros(4)
	f := t.Float32s()
	for i := range f {
		f[i] = float32(v >> (16 * i) & 0xffff)
	}
	return t
}

// tensorUint64 decodes what uint64Tensor wrote.
func tensorUint64(t *tensor.Tensor) (uint64, error) {
	f := t.ToFloat32().Float32s()
	if len(f) != 4 {
		return 0, fmt.Errorf("has %d values, want 4", len(f))
	}
	var v uint64
	for i, h := range f {
		if h < 0 || h > 0xffff || h != float32(math.Trunc(float64(h))) {
			return 0, fmt.Errorf("value %v is not a 16-bit integer", h)
		}
		v |= uint64(h) << (16 * i)
	}
	return v, nil
}

// isCheckpointState reports whether a checkpoint entry is optimizer or loop state, not a
// network parameter.
func isCheckpointState(name string) bool {
	for _, prefix := range []string{"train.", "moments.", "adam_m.", "adam_v.", "loss_scale."} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return name == "global_step"
}

// checkpointChecksum returns the CRC-32C (Castagnoli) of the tensors other than
// train.checksum, in name order: for each, the name, a zero byte, the dimensions and the
// float32 bits, little-endian.
func checkpointChecksum(tensors map[string]*tensor.Tensor) uint64 {
	names := make([]string, 0, len(tensors))
	for name := range tensors {
		if name != "train.checksum" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	var buf []byte
	for _, name := range names {
		t := tensors[name]
		buf = append(buf[:0], name...)
		buf = append(buf, 0)
		for _, d := range t.Shape() {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(d))
		}
		for _, v := range t.ToFloat32().Float32s() {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		h.Write(buf)
	}
	return uint64(h.Sum32())
}

// SaveCheckpoint writes the state of the last completed epoch to path atomically (see
// nn.WriteFileAtomic), in the format that ResumeTrainLoop reads.
func (l *TrainLoop) SaveCheckpoint(path string) error {
	if l.failed != nil {
		return fmt.Errorf("%s: not written: an epoch stopped part-way (%v)", path, l.failed)
	}
	params := l.net.Params()
	tensors := make([]nn.NamedTensor, 0, len(params)+len(loopFields)+3)
	for _, p := range params {
		tensors = append(tensors, nn.NamedTensor{Name: p.Name, Tensor: p.Value})
	}
	opt, err := l.trainer.OptimizerState()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tensors = append(tensors, opt...)

	rec := loopRecord{format: checkpointFormat, cfg: l.cfg, cell: cellCode(l.cfg.Cell),
		trainImages: l.train.Len(), epoch: l.epoch, step: l.step, partial: l.partial}
	fields := loopFields
	if l.step > 0 {
		fields = append(slices.Clip(fields), partialFields...)
	}
	if rec.cell != 0 {
		fields = append(slices.Clip(fields), cellField)
	}
	for _, f := range optionalLoopFields {
		if fieldBits(f.field(&rec)) != 0 {
			fields = append(slices.Clip(fields), f)
		}
	}
	for _, f := range fields {
		tensors = append(tensors, nn.NamedTensor{Name: f.name,
			Tensor: uint64Tensor(fieldBits(f.field(&rec)))})
	}

	state := l.epochStart
	if l.step == 0 {
		var err error
		if state, err = l.pcg.MarshalBinary(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	rngTensor := tensor.Zeros(len(state))
	for i, b := range state {
		rngTensor.Float32s()[i] = float32(b)
	}
	tensors = append(tensors, nn.NamedTensor{Name: "train.rng", Tensor: rngTensor},
		nn.NamedTensor{Name: "train.history", Tensor: historyTensor(l.history)})

	byName := make(map[string]*tensor.Tensor, len(tensors))
	for _, t := range tensors {
		byName[t.Name] = t.Tensor
	}
	tensors = append(tensors, nn.NamedTensor{Name: "train.checksum",
		Tensor: uint64Tensor(checkpointChecksum(byName))})
	if err := nn.WriteSafetensorsFile(path, tensors); err != nil {
		return err
	}
	l.saved = true
	return nil
}

func historyTensor(history []EpochMetrics) *tensor.Tensor {
	cols := len(checkpointHistory) + 2
	t := tensor.Zeros(len(history), cols)
	f := t.Float32s()
	for i := range history {
		row := f[i*cols : (i+1)*cols]
		row[0] = float32(history[i].Epoch)
		row[1] = float32(history[i].TestImages)
		for k, field := range checkpointHistory {
			row[k+2] = float32(*field(&history[i]))
		}
	}
	return t
}

func decodeHistory(t *tensor.Tensor, epochs int) ([]EpochMetrics, error) {
	cols := len(checkpointHistory) + 2
	if !t.Shape().Equal(tensor.Shape{epochs, cols}) {
		return nil, fmt.Errorf("train.history has shape %v, want [%d %d]", t.Shape(), epochs,
			cols)
	}
	f := t.ToFloat32().Float32s()
	history := make([]EpochMetrics, epochs)
	for i := range history {
		row := f[i*cols : (i+1)*cols]
		history[i].Epoch = int(row[0])
		history[i].TestImages = int(row[1])
		for k, field := range checkpointHistory {
			*field(&history[i]) = float64(row[k+2])
		}
	}
	return history, nil
}

// CheckpointInfo describes a training checkpoint.
type CheckpointInfo struct {
	Config LoopConfig
	// Epoch is the number of completed epochs, and Step the steps done of the next one.
	Epoch, Step int
	// TrainImages is the size of the training set of the run.
	TrainImages int
}

// ReadCheckpointInfo returns the configuration and progress stored in a training checkpoint,
// after verifying its checksum. Errors name the file.
func ReadCheckpointInfo(path string) (CheckpointInfo, error) {
	tensors, err := readTrainingCheckpoint(path)
	if err != nil {
		return CheckpointInfo{}, err
	}
	rec, err := decodeLoopRecord(tensors)
	if err != nil {
		return CheckpointInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	return CheckpointInfo{Config: rec.cfg, Epoch: rec.epoch, Step: rec.step,
		TrainImages: rec.trainImages}, nil
}

// readTrainingCheckpoint reads a checkpoint and verifies its checksum.
func readTrainingCheckpoint(path string) (map[string]*tensor.Tensor, error) {
	tensors, err := nn.ReadSafetensorsFile(path)
	if err != nil {
		return nil, err
	}
	stored, ok := tensors["train.checksum"]
	if !ok {
		return nil, fmt.Errorf("%s: not a training checkpoint: it has no train.checksum "+
			"(a weights-only file cannot be resumed)", path)
	}
	sum, err := tensorUint64(stored)
	if err != nil || sum != checkpointChecksum(tensors) {
		return nil, fmt.Errorf("%s: checksum mismatch: the checkpoint is corrupted", path)
	}
	return tensors, nil
}

func decodeLoopRecord(tensors map[string]*tensor.Tensor) (*loopRecord, error) {
	rec := &loopRecord{}
	for _, f := range loopFields {
		t, ok := tensors[f.name]
		if !ok {
			return nil, fmt.Errorf("not a training checkpoint of this version: %s is missing",
				f.name)
		}
		bits, err := tensorUint64(t)
		if err != nil {
			return nil, fmt.Errorf("%s %w", f.name, err)
		}
		setFieldBits(f.field(rec), bits)
	}
	optional := append(slices.Clip(partialFields), cellField)
	for _, f := range append(optional, optionalLoopFields...) {
		if t, ok := tensors[f.name]; ok {
			bits, err := tensorUint64(t)
			if err != nil {
				return nil, fmt.Errorf("%s %w", f.name, err)
			}
			setFieldBits(f.field(rec), bits)
		}
	}
	if rec.format != checkpointFormat {
		return nil, fmt.Errorf("checkpoint format %d is not supported (want %d)", rec.format,
			checkpointFormat)
	}
	if rec.cell != 0 {
		cell, err := nasbench.SpecFromCode(rec.cell)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cellField.name, err)
		}
		rec.cfg.Cell = &cell
	}
	return rec, nil
}

// ErrConfigMismatch is wrapped by the error of ResumeTrainLoop when the checkpoint was
// written by a run with another configuration or training set size.
var ErrConfigMismatch = errors.New("checkpoint was written by a different run")

// ResumeTrainLoop restores a run from a checkpoint written by SaveCheckpoint: weights,
// running statistics, optimizer state, data generator, completed epochs and their metrics.
// cfg and the size of train must equal what the checkpoint stores. Errors name the file.
func ResumeTrainLoop(be backend.Backend, path string, cfg LoopConfig,
	train *cifar10.Set) (*TrainLoop, error) {
	tensors, err := readTrainingCheckpoint(path)
	if err != nil {
		return nil, err
	}
	rec, err := decodeLoopRecord(tensors)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	want := loopRecord{format: checkpointFormat, cfg: cfg, cell: cellCode(cfg.Cell),
		trainImages: train.Len(), epoch: rec.epoch}
	if rec.cell != want.cell {
		return nil, fmt.Errorf("%s: %w: it has cell %s, this run has %s", path,
			ErrConfigMismatch, cellName(rec.cfg.Cell), cellName(cfg.Cell))
	}
	for _, f := range append(slices.Clip(loopFields), optionalLoopFields...) {
		stored, requested := f.field(rec), f.field(&want)
		if fieldBits(stored) != fieldBits(requested) {
			name := strings.TrimPrefix(f.name, "train.")
			return nil, fmt.Errorf("%s: %w: it has %s %s, this run has %s", path,
				ErrConfigMismatch, name, fieldString(stored), fieldString(requested))
		}
	}
	l, err := NewTrainLoop(be, cfg, train)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if rec.epoch < 0 || rec.epoch > cfg.Epochs {
		return nil, fmt.Errorf("%s: completed epoch %d is outside 0-%d", path, rec.epoch,
			cfg.Epochs)
	}
	if rec.step < 0 || rec.step >= l.steps || rec.step > 0 && rec.epoch == cfg.Epochs {
		return nil, fmt.Errorf("%s: step %d of epoch %d is outside the %d steps of an "+
			"epoch", path, rec.step, rec.epoch+1, l.steps)
	}
	if err := l.restore(tensors, rec); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// restore loads the weights, optimizer state, generator and history of a checkpoint into a
// loop made by NewTrainLoop with the checkpoint's configuration.
func (l *TrainLoop) restore(tensors map[string]*tensor.Tensor, rec *loopRecord) error {
	if err := nn.LoadStrict(l.net.Params(), tensors, isCheckpointState); err != nil {
		return err
	}
	// NewTrainer copies the weights to the backend, so it runs again on the loaded ones.
	var err error
	if l.trainer, err = NewTrainer(l.be, l.net, l.cfg.Train); err != nil {
		return err
	}
	if err := l.trainer.LoadOptimizerState(tensors); err != nil {
		return err
	}
	if got, want := l.trainer.Steps(), rec.epoch*l.steps+rec.step; got != want {
		return fmt.Errorf("global_step is %d, but %d epochs of %d steps and %d more make %d",
			got, rec.epoch, l.steps, rec.step, want)
	}
	rngTensor, ok := tensors["train.rng"]
	if !ok {
		return errors.New("train.rng is missing")
	}
	state := make([]byte, rngTensor.Len())
	for i, v := range rngTensor.ToFloat32().Float32s() {
		if v < 0 || v > 255 || v != float32(math.Trunc(float64(v))) {
			return fmt.Errorf("train.rng value %v is not a byte", v)
		}
		state[i] = byte(v)
	}
	if err := l.pcg.UnmarshalBinary(state); err != nil {
		return fmt.Errorf("train.rng: %w", err)
	}
	history, ok := tensors["train.history"]
	if !ok {
		return errors.New("train.history is missing")
	}
	if l.history, err = decodeHistory(history, rec.epoch); err != nil {
		return err
	}
	l.epoch, l.step, l.partial = rec.epoch, rec.step, rec.partial
	if l.step > 0 {
		l.epochStart = state
	}
	return nil
}
