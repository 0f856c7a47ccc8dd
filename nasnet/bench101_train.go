package nasnet

import (
	"fmt"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/tensor"
)

// trainModule is one NAS-Bench-101 module in training: its units, the activations that its
// backward pass reads, and the gradient buffers it uses.
type trainModule struct {
	w        *wiring
	bufs     *moduleBuffers
	proj, op []*unit // per vertex; op is nil for a max pool
	// dY is the gradient of the module output, which backward overwrites; dX receives the
	// gradient of its input.
	dY, dX backend.Buffer
	// gOut[v] is the gradient of out[v]: a channel view of dY when v feeds the output.
	gOut []backend.Buffer
	// pulls[v] are the additions that gather the gradient of out[v] from the inputs of its
	// interior successors, in order: Add(dst, srcs...).
	pulls [][]gradientAdd
	grads *stackGradients
}

type gradientAdd struct {
	dst  backend.Buffer
	srcs []backend.Buffer
}

// stackGradients are the gradient buffers of one stack, shared by its modules because
// backward runs one module at a time. gIn[v] is the gradient of in[v], and gOwn[v] that of
// out[v] when v does not feed the output. dConv[v] and dProj[v] are the gradients of the
// conv outputs of v's op and projection.
type stackGradients struct {
	gIn, gOwn, dConv, dProj []backend.Buffer
	dY                      [2]backend.Buffer // module output gradients, alternating
	dFirst                  backend.Buffer    // input gradient of a stack's first module
}

// buildModules allocates the units and activations of a NAS-Bench-101 network.
func (tr *Trainer) buildModules() error {
	n := tr.cfg.BatchSize
	net := tr.net
	var err error
	if tr.stem, err = tr.newUnit("conv1", "bn1", net.Conv1,
		tensor.Shape{n, 3, ImageSize, ImageSize}); err != nil {
		return err
	}
	if tr.input, err = tr.be.NewBuffer(n, 3, ImageSize, ImageSize); err != nil {
		return err
	}
	in := net.Width
	for s, side := range []int{32, 16, 8} {
		first := net.Modules[s][0]
		out := first.OutChannels
		g, err := tr.newStackGradients(first, in, side, s > 0)
		if err != nil {
			return err
		}
		if tr.stageIn[s], err = tr.be.NewBuffer(n, in, side, side); err != nil {
			return err
		}
		x := tr.stageIn[s]
		for i, m := range net.Modules[s] {
			y, err := tr.be.NewBuffer(n, out, side, side)
			if err != nil {
				return err
			}
			dY, dX := g.dY[i%2], g.dY[(i+1)%2]
			if i == 0 && s > 0 {
				dX = g.dFirst
			}
			prefix := fmt.Sprintf("stack%d.module%d.", s, i)
			if tr.modules[s][i], err = tr.newTrainModule(m, prefix, x, y, dY, dX, g,
				side); err != nil {
				return fmt.Errorf("%s: %w", prefix[:len(prefix)-1], err)
			}
			x = y
		}
		in = out
	}
	tr.stem.out = tr.stageIn[0]
	return tr.buildHead(in)
}

func (tr *Trainer) newStackGradients(m *Module, in, side int, downsampled bool) (
	*stackGradients, error) {
	n := tr.cfg.BatchSize
	k := len(m.Channels)
	g := &stackGradients{gIn: make([]backend.Buffer, k), gOwn: make([]backend.Buffer, k),
		dConv: make([]backend.Buffer, k), dProj: make([]backend.Buffer, k)}
	var err error
	alloc := func(c int) backend.Buffer {
		if err != nil {
			return nil
		}
		var b backend.Buffer
		b, err = tr.be.NewBuffer(n, c, side, side)
		return b
	}
	for v := 1; v < k; v++ {
		c := m.Channels[v]
		g.dProj[v] = alloc(c)
		if v < k-1 {
			g.gIn[v], g.gOwn[v], g.dConv[v] = alloc(c), alloc(c), alloc(c)
		}
	}
	g.dY[0], g.dY[1] = alloc(m.OutChannels), alloc(m.OutChannels)
	if downsampled {
		g.dFirst = alloc(in)
	}
	return g, err
}

func (tr *Trainer) newTrainModule(m *Module, prefix string, x, y, dY, dX backend.Buffer,
	g *stackGradients, side int) (*trainModule, error) {
	n := tr.cfg.BatchSize
	k := len(m.Channels)
	last := k - 1
	w := newWiring(m, *tr.net.Cell)
	alloc := func(_ string, c int) (backend.Buffer, error) {
		return tr.be.NewBuffer(n, c, side, side)
	}
	bufs, err := newModuleBuffers(tr.be, w, x, y, alloc, true)
	if err != nil {
		return nil, err
	}
	tm := &trainModule{w: w, bufs: bufs, proj: make([]*unit, k), op: make([]*unit, k),
		dY: dY, dX: dX, gOut: make([]backend.Buffer, k), pulls: make([][]gradientAdd, k),
		grads: g}
	for v := 1; v < k; v++ {
		name := fmt.Sprintf("%svertex_%d", prefix, v)
		if v == last {
			name = prefix + "output"
		}
		if p := m.Projections[v]; p != nil {
			u, err := tr.newUnit(name+".projection.conv", name+".projection.bn", p.Conv,
				tensor.Shape{n, m.InChannels, side, side})
			if err != nil {
				return nil, err
			}
			u.out = bufs.projectionTarget(w, v)
			tm.proj[v] = u
		}
		if l := m.Ops[v]; l != nil {
			c := m.Channels[v]
			u, err := tr.newUnit(name+".conv", name+".bn", l.Conv,
				tensor.Shape{n, c, side, side})
			if err != nil {
				return nil, err
			}
			u.out = bufs.out[v]
			tm.op[v] = u
		}
	}
	if err := tm.wireGradients(tr.be); err != nil {
		return nil, err
	}
	return tm, nil
}

// wireGradients sets gOut and pulls: the gradient of out[v] is its slice of dY when v feeds
// the output, plus the gradients of the inputs of its interior successors, each on the
// first channels of out[v].
func (tm *trainModule) wireGradients(be backend.Backend) error {
	w := tm.w
	last := w.last()
	for v := 1; v < last; v++ {
		var err error
		if w.offset[v] >= 0 {
			tm.gOut[v], err = be.ChannelView(tm.dY, w.offset[v], w.offset[v]+w.channels[v])
		} else {
			tm.gOut[v] = tm.grads.gOwn[v]
		}
		if err != nil {
			return err
		}
		// A vertex that does not feed the output starts from a copy of the gradient of a
		// successor with as many channels, which compute_vertex_channels guarantees.
		written := w.offset[v] >= 0
		var succ []int
		for t := v + 1; t < last; t++ {
			for _, s := range w.sources[t] {
				if s == v {
					succ = append(succ, t)
				}
			}
		}
		if !written {
			for k, t := range succ {
				if w.channels[t] == w.channels[v] {
					tm.pulls[v] = append(tm.pulls[v], gradientAdd{tm.gOut[v],
						[]backend.Buffer{tm.grads.gIn[t]}})
					succ = append(succ[:k:k], succ[k+1:]...)
					written = true
					break
				}
			}
		}
		if !written {
			return fmt.Errorf("vertex %d has no successor with its %d channels", v,
				w.channels[v])
		}
		for _, t := range succ {
			view, err := be.ChannelView(tm.gOut[v], 0, w.channels[t])
			if err != nil {
				return err
			}
			tm.pulls[v] = append(tm.pulls[v], gradientAdd{view,
				[]backend.Buffer{view, tm.grads.gIn[t]}})
		}
	}
	return nil
}

func (tr *Trainer) forwardModule(tm *trainModule) error {
	mb := tm.bufs
	project := func(v int) error { return tr.forwardUnit(tm.proj[v], mb.x) }
	op := func(v int) error {
		if u := tm.op[v]; u != nil {
			return tr.forwardUnit(u, mb.in[v])
		}
		return tr.maxPool3Op.Run(mb.in[v], mb.out[v])
	}
	return forwardModule(tr.be, tm.w, mb, project, op)
}

// backwardModule computes the gradients of a module from tm.dY, which it overwrites, and
// writes its input gradient into tm.dX.
func (tr *Trainer) backwardModule(tm *trainModule) error {
	w, mb, g := tm.w, tm.bufs, tm.grads
	last := w.last()
	wroteX := false
	// The output projection reads dY before the vertices add into their slices of it.
	if u := tm.proj[last]; u != nil {
		if err := tr.backwardUnit(u, mb.x, tm.dY, g.dProj[last], tm.dX, false); err != nil {
			return fmt.Errorf("output projection: %w", err)
		}
		wroteX = true
	}
	for v := last - 1; v > 0; v-- {
		for _, a := range tm.pulls[v] {
			if err := tr.be.Add(a.dst, a.srcs...); err != nil {
				return fmt.Errorf("vertex %d gradient: %w", v, err)
			}
		}
		var err error
		if u := tm.op[v]; u != nil {
			err = tr.backwardUnit(u, mb.in[v], tm.gOut[v], g.dConv[v], g.gIn[v], false)
		} else {
			err = tr.be.PoolBackward(tr.maxPool3, mb.in[v], tm.gOut[v], g.gIn[v], false)
		}
		if err != nil {
			return fmt.Errorf("vertex %d: %w", v, err)
		}
		if u := tm.proj[v]; u != nil {
			if err := tr.backwardUnit(u, mb.x, g.gIn[v], g.dProj[v], tm.dX,
				wroteX); err != nil {
				return fmt.Errorf("vertex %d projection: %w", v, err)
			}
			wroteX = true
		}
	}
	return nil
}

// forwardModules runs the modules from the stem's output, then the head.
func (tr *Trainer) forwardModules() error {
	for s := range tr.modules {
		if s > 0 {
			if err := tr.downOp.Run(tr.modules[s-1][2].bufs.y, tr.stageIn[s]); err != nil {
				return err
			}
		}
		for i, tm := range tr.modules[s] {
			if err := tr.forwardModule(tm); err != nil {
				return fmt.Errorf("stack%d.module%d: %w", s, i, err)
			}
		}
	}
	last := tr.modules[2][2].bufs.y
	if err := tr.avgOp.Run(last, tr.avgOut); err != nil {
		return err
	}
	head := tr.paramByName
	return tr.be.LinearForward(tr.avgOut, head["linear.weight"].value,
		head["linear.bias"].value, tr.logits)
}

// backwardModules runs the backward pass from the logit gradients to the stem.
func (tr *Trainer) backwardModules() error {
	head := tr.paramByName
	w, b := head["linear.weight"], head["linear.bias"]
	if err := tr.be.LinearBackward(tr.avgOut, w.value, tr.dLogits, tr.dAvg, w.grad, b.grad,
		false); err != nil {
		return err
	}
	last := tr.modules[2][2]
	if err := tr.be.PoolBackward(tr.avg, last.bufs.y, tr.dAvg, last.dY, false); err != nil {
		return err
	}
	for s := 2; s >= 0; s-- {
		for i := 2; i >= 0; i-- {
			if err := tr.backwardModule(tr.modules[s][i]); err != nil {
				return fmt.Errorf("stack%d.module%d backward: %w", s, i, err)
			}
		}
		if s > 0 {
			prev := tr.modules[s-1][2]
			if err := tr.be.PoolBackward(tr.down, prev.bufs.y, tr.modules[s][0].dX, prev.dY,
				false); err != nil {
				return err
			}
		}
	}
	// The first module's output gradient is spent and has the stem's shape.
	first := tr.modules[0][0]
	return tr.backwardUnit(tr.stem, tr.input, first.dX, first.dY, nil, false)
}
