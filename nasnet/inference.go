package nasnet

import (
	"fmt"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/nn"
	"github.com/renasgo/renas/tensor"
)

// ImageSize is the side of the square input images.
const ImageSize = 32

// Inference is a network planned on a backend for evaluation: every convolution is fused
// with its batch normalization and ReLU, and the buffers of each batch size are allocated
// once and reused. An Inference is not safe for concurrent use.
type Inference struct {
	be       backend.Backend
	width    int
	stem     backend.Op
	cells    [3][3]cellOps
	modules  [3][3]*moduleOps // the NAS-Bench-101 modules, when the network has a Cell
	down     backend.Op       // 2×2 max pooling between stacks
	maxPool3 backend.Op
	avg      backend.Op
	head     backend.Op
	byBatch  map[int]*batchBuffers
}

type cellOps struct {
	cbr  [3]backend.Op
	proj [6]backend.Op
}

// stageBuffers are the activations of one stack. Cells alternate between a and b.
type stageBuffers struct {
	a, b                 backend.Buffer
	maxPool, o1, o2, o2p backend.Buffer
	o3, o4               backend.Buffer
	aHalves, bHalves     [2]backend.Buffer
	o1Halves, o2pHalves  [2]backend.Buffer
}

type batchBuffers struct {
	input   backend.Buffer
	stages  [3]stageBuffers
	modules [3][3]*moduleBuffers
	pooled  backend.Buffer
	logits  backend.Buffer
	out     *tensor.Tensor
}

// NewInference plans net on b. The weights are copied (folded with the batch
// normalization), so later changes to net do not affect the plan.
func NewInference(b backend.Backend, net *Network) (*Inference, error) {
	inf := &Inference{be: b, width: net.Width, byBatch: map[int]*batchBuffers{}}
	var err error
	if inf.stem, err = nn.PlanConvBN(b, net.Conv1, net.BN1, backend.ReLU); err != nil {
		return nil, fmt.Errorf("stem: %w", err)
	}
	for s := range net.Blocks {
		for i, c := range net.Blocks[s] {
			if c == nil {
				continue
			}
			ops := &inf.cells[s][i]
			for k := range c.CBR {
				ops.cbr[k], err = nn.PlanConvBN(b, c.CBR[k], c.CBRNorm[k], backend.ReLU)
				if err != nil {
					return nil, fmt.Errorf("block%d.%d.conv3x3_%d: %w", s+1, i, k+1, err)
				}
			}
			for k := range c.Proj {
				ops.proj[k], err = nn.PlanConvBN(b, c.Proj[k], c.ProjNorm[k], backend.ReLU)
				if err != nil {
					return nil, fmt.Errorf("block%d.%d.proj%d: %w", s+1, i, k+1, err)
				}
			}
		}
	}
	pools := []struct {
		op   *backend.Op
		desc backend.PoolDesc
	}{
		{&inf.down, backend.PoolDesc{Kind: backend.MaxPool, KernelH: 2, KernelW: 2,
			StrideH: 2, StrideW: 2, Padding: backend.Valid}},
		{&inf.maxPool3, backend.PoolDesc{Kind: backend.MaxPool, KernelH: 3, KernelW: 3,
			StrideH: 1, StrideW: 1, Padding: backend.Same}},
		{&inf.avg, backend.PoolDesc{Kind: backend.AvgPool, KernelH: 8, KernelW: 8,
			StrideH: 8, StrideW: 8, Padding: backend.Valid}},
	}
	for _, p := range pools {
		if *p.op, err = b.NewPool(p.desc); err != nil {
			return nil, err
		}
	}
	if net.Cell != nil {
		if err := inf.planModules(net); err != nil {
			return nil, err
		}
	}
	if inf.head, err = b.NewLinear(net.Head.Weight, net.Head.Bias); err != nil {
		return nil, fmt.Errorf("linear: %w", err)
	}
	return inf, nil
}

// Forward returns the logits [N, 10] of a batch of preprocessed images [N, 3, 32, 32]. The
// returned tensor is reused by the next call with the same batch size.
func (inf *Inference) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	n, c, h, w, err := x.NCHW()
	if err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	if c != 3 || h != ImageSize || w != ImageSize || n == 0 {
		return nil, fmt.Errorf("forward: input shape %v, want [N 3 32 32] with N > 0",
			x.Shape())
	}
	bufs, err := inf.buffers(n)
	if err != nil {
		return nil, err
	}
	if err := inf.be.Upload(bufs.input, x); err != nil {
		return nil, err
	}
	if err := inf.run(bufs); err != nil {
		return nil, err
	}
	if err := inf.be.Download(bufs.out, bufs.logits); err != nil {
		return nil, err
	}
	return bufs.out, inf.be.Sync()
}

func (inf *Inference) run(bufs *batchBuffers) error {
	if err := inf.stem.Run(bufs.input, bufs.stages[0].a); err != nil {
		return fmt.Errorf("stem: %w", err)
	}
	last := bufs.stages[2].b
	if inf.modules[0][0] != nil {
		var err error
		if last, err = inf.runModules(bufs); err != nil {
			return err
		}
	} else if err := inf.runCells(bufs); err != nil {
		return err
	}
	if err := inf.avg.Run(last, bufs.pooled); err != nil {
		return fmt.Errorf("average pool: %w", err)
	}
	if err := inf.head.Run(bufs.pooled, bufs.logits); err != nil {
		return fmt.Errorf("linear: %w", err)
	}
	return nil
}

// runCells runs the stem's output through the cells of the ReNAS network.
func (inf *Inference) runCells(bufs *batchBuffers) error {
	for s := range inf.cells {
		st := &bufs.stages[s]
		if s > 0 {
			if err := inf.down.Run(bufs.stages[s-1].b, st.a); err != nil {
				return fmt.Errorf("max pool after stack %d: %w", s, err)
			}
		}
		// Cells 0 and 2 read a and write b; cell 1 reads b and writes a.
		for i := range inf.cells[s] {
			in, outHalves := st.a, st.bHalves
			if i == 1 {
				in, outHalves = st.b, st.aHalves
			}
			if err := inf.cell(&inf.cells[s][i], st, in, outHalves); err != nil {
				return fmt.Errorf("block%d.%d: %w", s+1, i, err)
			}
		}
	}
	return nil
}

// cell runs one cell from x into the two channel halves of its output.
func (inf *Inference) cell(ops *cellOps, st *stageBuffers, x backend.Buffer,
	out [2]backend.Buffer) error {
	steps := []struct {
		op     backend.Op
		in, to backend.Buffer
	}{
		{inf.maxPool3, x, st.maxPool},
		{ops.proj[0], st.maxPool, st.o1Halves[0]},
		{ops.proj[1], x, st.o1Halves[1]},
		{ops.cbr[0], st.o1, st.o2},
		{ops.proj[2], st.o2, st.o2pHalves[0]},
		{ops.proj[3], x, st.o2pHalves[1]},
		{ops.cbr[1], st.o2p, st.o3},
		{ops.cbr[2], x, st.o4},
		{ops.proj[4], st.o3, out[0]},
		{ops.proj[5], st.o4, out[1]},
	}
	for _, s := range steps {
		if err := s.op.Run(s.in, s.to); err != nil {
			return err
		}
	}
	return nil
}

// BytesPerImage returns the activation memory that Forward allocates per image of a batch.
func (inf *Inference) BytesPerImage() int64 {
	c := int64(inf.width)
	floats := int64(3*ImageSize*ImageSize) + c + NumClasses
	if inf.modules[0][0] != nil {
		return 4 * (floats + inf.moduleFloatsPerImage())
	}
	for _, side := range []int64{32, 16, 8} {
		floats += 8 * c * side * side // a, b and six intermediates per stage
	}
	return 4 * floats
}

// buffers returns the activations for batch size n, allocating them on first use.
func (inf *Inference) buffers(n int) (*batchBuffers, error) {
	if bufs, ok := inf.byBatch[n]; ok {
		return bufs, nil
	}
	b, c := inf.be, inf.width
	bufs := &batchBuffers{out: tensor.Zeros(n, NumClasses)}
	var err error
	alloc := func(ch, side int) backend.Buffer {
		if err != nil {
			return nil
		}
		var buf backend.Buffer
		buf, err = b.NewBuffer(n, ch, side, side)
		return buf
	}
	halves := func(buf backend.Buffer) (h [2]backend.Buffer) {
		if err != nil {
			return h
		}
		if h[0], err = b.ChannelView(buf, 0, c/2); err != nil {
			return h
		}
		h[1], err = b.ChannelView(buf, c/2, c)
		return h
	}
	bufs.input = alloc(3, ImageSize)
	if inf.modules[0][0] != nil {
		if err == nil {
			err = inf.allocModules(n, bufs)
		}
		w := inf.modules[2][2].w
		bufs.pooled = alloc(w.channels[w.last()], 1)
		bufs.logits = alloc(NumClasses, 1)
		if err != nil {
			return nil, fmt.Errorf("allocating buffers for batch %d: %w", n, err)
		}
		inf.byBatch[n] = bufs
		return bufs, nil
	}
	for s, side := range []int{32, 16, 8} {
		st := &bufs.stages[s]
		st.a, st.b = alloc(c, side), alloc(c, side)
		st.maxPool, st.o1, st.o2 = alloc(c, side), alloc(c, side), alloc(c, side)
		st.o2p, st.o3, st.o4 = alloc(c, side), alloc(c, side), alloc(c, side)
		st.aHalves, st.bHalves = halves(st.a), halves(st.b)
		st.o1Halves, st.o2pHalves = halves(st.o1), halves(st.o2p)
	}
	bufs.pooled = alloc(c, 1)
	bufs.logits = alloc(NumClasses, 1)
	if err != nil {
		return nil, fmt.Errorf("allocating buffers for batch %d: %w", n, err)
	}
	inf.byBatch[n] = bufs
	return bufs, nil
}
