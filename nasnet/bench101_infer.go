package nasnet

import (
	"fmt"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/nn"
)

// moduleOps are the planned layers of one NAS-Bench-101 module: proj[v] is the projection
// that feeds vertex v, op[v] the op of interior vertex v (a fused convolution or the shared
// 3×3 max pool).
type moduleOps struct {
	w        *wiring
	proj, op []backend.Op
}

// planModules plans the modules of a NAS-Bench-101 network.
func (inf *Inference) planModules(net *Network) error {
	for s := range net.Modules {
		for i, m := range net.Modules[s] {
			name := fmt.Sprintf("stack%d.module%d", s, i)
			ops := &moduleOps{w: newWiring(m, *net.Cell), proj: make([]backend.Op,
				len(m.Channels)), op: make([]backend.Op, len(m.Channels))}
			for v := range m.Channels {
				var err error
				if p := m.Projections[v]; p != nil {
					if ops.proj[v], err = nn.PlanConvBN(inf.be, p.Conv, p.Norm,
						backend.ReLU); err != nil {
						return fmt.Errorf("%s vertex %d projection: %w", name, v, err)
					}
				}
				if l := m.Ops[v]; l != nil {
					if ops.op[v], err = nn.PlanConvBN(inf.be, l.Conv, l.Norm,
						backend.ReLU); err != nil {
						return fmt.Errorf("%s vertex %d: %w", name, v, err)
					}
				} else if v > 0 && v < ops.w.last() {
					ops.op[v] = inf.maxPool3
				}
			}
			inf.modules[s][i] = ops
		}
	}
	return nil
}

// runModules runs the stem's output through the modules and returns the last one's output.
func (inf *Inference) runModules(bufs *batchBuffers) (backend.Buffer, error) {
	for s := range inf.modules {
		if s > 0 {
			if err := inf.down.Run(bufs.modules[s-1][2].y, bufs.modules[s][0].x); err != nil {
				return nil, fmt.Errorf("max pool after stack %d: %w", s, err)
			}
		}
		for i, ops := range inf.modules[s] {
			mb := bufs.modules[s][i]
			project := func(v int) error {
				return ops.proj[v].Run(mb.x, mb.projectionTarget(ops.w, v))
			}
			op := func(v int) error { return ops.op[v].Run(mb.in[v], mb.out[v]) }
			if err := forwardModule(inf.be, ops.w, mb, project, op); err != nil {
				return nil, fmt.Errorf("stack%d.module%d: %w", s, i, err)
			}
		}
	}
	return bufs.modules[2][2].y, nil
}

// allocModules allocates the module activations of batch size n. The modules of a stack
// run one after another, so they share the buffers of each vertex; their outputs
// alternate between two buffers.
func (inf *Inference) allocModules(n int, bufs *batchBuffers) error {
	in := inf.width
	for s, side := range []int{32, 16, 8} {
		shared := map[string]backend.Buffer{}
		alloc := func(key string, c int) (backend.Buffer, error) {
			key = fmt.Sprintf("%s/%d", key, c)
			if b, ok := shared[key]; ok {
				return b, nil
			}
			b, err := inf.be.NewBuffer(n, c, side, side)
			shared[key] = b
			return b, err
		}
		out := inf.modules[s][0].w.channels[inf.modules[s][0].w.last()]
		x, err := inf.be.NewBuffer(n, in, side, side)
		if err != nil {
			return err
		}
		var ys [2]backend.Buffer
		for k := range ys {
			if ys[k], err = inf.be.NewBuffer(n, out, side, side); err != nil {
				return err
			}
		}
		for i, ops := range inf.modules[s] {
			y := ys[i%2]
			if bufs.modules[s][i], err = newModuleBuffers(inf.be, ops.w, x, y, alloc,
				false); err != nil {
				return err
			}
			x = y
		}
		in = out
	}
	bufs.stages[0].a = bufs.modules[0][0].x
	return nil
}

// moduleFloatsPerImage bounds the module activations of one image: per stack, the input,
// two outputs and an input and output buffer per vertex.
func (inf *Inference) moduleFloatsPerImage() int64 {
	var floats int64
	in := int64(inf.width)
	for s, side := range []int64{32, 16, 8} {
		w := inf.modules[s][0].w
		out := int64(w.channels[w.last()])
		perStack := in + 3*out
		for _, c := range w.channels[1:w.last()] {
			perStack += 2 * int64(c)
		}
		floats += perStack * side * side
		in = out
	}
	return floats + 3*in
}
