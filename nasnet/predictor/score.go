package predictor

import (
	"fmt"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/nasnet/nasbench"
	"github.com/renasgo/renas/tensor"
)

// Scorer runs a model in inference mode, with its batch norms using the running statistics,
// on batches of a fixed size. A Scorer is not safe for concurrent use.
type Scorer struct {
	be    backend.Backend
	model *Model
	batch int
	ops   []backend.Op
	// bufs[i] is the input of ops[i], and bufs[len(ops)] the scores.
	bufs  []backend.Buffer
	input *tensor.Tensor
	out   *tensor.Tensor
}

// NewScorer plans the model's layers on b for batches of up to batch cells.
func NewScorer(b backend.Backend, m *Model, batch int) (*Scorer, error) {
	if batch < 1 {
		return nil, fmt.Errorf("predictor: batch size must be positive, got %d", batch)
	}
	sc := &Scorer{be: b, model: m, batch: batch,
		input: tensor.Zeros(batch, nasbench.EncodingChannels, side, side),
		out:   tensor.Zeros(batch, 1, 1, 1)}
	shape := sc.input.Shape()
	add := func(op backend.Op, err error) error {
		if err != nil {
			return err
		}
		if len(sc.bufs) == 0 {
			x, err := b.NewBuffer(shape[0], shape[1], shape[2], shape[3])
			if err != nil {
				return err
			}
			sc.bufs = append(sc.bufs, x)
		}
		if shape, err = op.OutputShape(shape); err != nil {
			return err
		}
		y, err := b.NewBuffer(shape[0], shape[1], shape[2], shape[3])
		if err != nil {
			return err
		}
		sc.ops = append(sc.ops, op)
		sc.bufs = append(sc.bufs, y)
		return nil
	}
	in := nasbench.EncodingChannels
	for k, out := range m.Config.Channels {
		conv := backend.Conv2DDesc{InChannels: in, OutChannels: out, KernelH: 3, KernelW: 3,
			StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
		if err := add(b.NewConv2D(conv, m.Conv[k], nil)); err != nil {
			return nil, fmt.Errorf("predictor: conv%d: %w", k+1, err)
		}
		n := m.Norm[k]
		norm := backend.BatchNormDesc{Channels: out, Eps: BatchNormEps, Activation: backend.ReLU}
		if err := add(b.NewBatchNorm(norm, n.Gamma, n.Beta, n.MovingMean,
			n.MovingVariance)); err != nil {
			return nil, fmt.Errorf("predictor: bn%d: %w", k+1, err)
		}
		in = out
	}
	for k, d := range m.Dense {
		if err := add(b.NewLinear(d.Weight, d.Bias)); err != nil {
			return nil, fmt.Errorf("predictor: fc%d: %w", k+1, err)
		}
		if k < len(m.Dense)-1 {
			if err := add(b.NewActivation(backend.ReLU)); err != nil {
				return nil, err
			}
		}
	}
	if !shape.Equal(sc.out.Shape()) {
		return nil, fmt.Errorf("predictor: the network outputs %v, want %v", shape,
			sc.out.Shape())
	}
	return sc, nil
}

// Score returns the predicted score of each cell; a higher score predicts a higher
// accuracy. With the model's Orderings above 1, a cell's score is the mean of the scores of
// up to that many of its vertex orderings (ExpandOrderings), which fill the batches in
// place of the cells.
func (sc *Scorer) Score(cells []nasbench.Spec) ([]float32, error) {
	examples, owner := ExpandOrderings(cells, sc.model.orderings())
	sum := make([]float64, len(cells))
	count := make([]int, len(cells))
	for start := 0; start < len(examples); start += sc.batch {
		end := min(start+sc.batch, len(examples))
		x, err := sc.model.Encode(examples[start:end])
		if err != nil {
			return nil, err
		}
		part, err := sc.scoreEncoded(x)
		if err != nil {
			return nil, err
		}
		for i, s := range part {
			sum[owner[start+i]] += float64(s)
			count[owner[start+i]]++
		}
	}
	scores := make([]float32, len(cells))
	for i := range cells {
		scores[i] = float32(sum[i] / float64(count[i]))
	}
	return scores, nil
}

// scoreEncoded returns the scores of a batch of standardised encodings x [n, 19, 7, 7],
// with n at most the Scorer's batch size. The result is valid until the next call.
func (sc *Scorer) scoreEncoded(x *tensor.Tensor) ([]float32, error) {
	n := x.Dim(0)
	if n > sc.batch {
		return nil, fmt.Errorf("predictor: %d cells in a batch of at most %d", n, sc.batch)
	}
	// A short batch runs on zero padding whose scores are dropped.
	clear(sc.input.Float32s())
	copy(sc.input.Float32s(), x.Float32s())
	if err := sc.run(); err != nil {
		return nil, err
	}
	return sc.out.Float32s()[:n], nil
}

func (sc *Scorer) run() error {
	if err := sc.be.Upload(sc.bufs[0], sc.input); err != nil {
		return err
	}
	for i, op := range sc.ops {
		if err := op.Run(sc.bufs[i], sc.bufs[i+1]); err != nil {
			return err
		}
	}
	if err := sc.be.Sync(); err != nil {
		return err
	}
	return sc.be.Download(sc.out, sc.bufs[len(sc.bufs)-1])
}
