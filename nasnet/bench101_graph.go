package nasnet

import (
	"fmt"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/nasnet/nasbench"
)

// wiring is how the vertices of a NAS-Bench-101 module connect, as NAS-Bench-101's
// build_module wires them. An interior vertex sums the outputs of its interior sources,
// truncated to its channels, and the projection of the module input when the input feeds it.
// The output concatenates the vertices that feed it, and adds the projection of the input
// when the input feeds it too.
type wiring struct {
	cell      nasbench.Spec
	channels  []int
	sources   [][]int // interior sources of each vertex
	projected []bool  // the edge 0→v
	offset    []int   // channel offset of v in the module output; -1 when v does not feed it
}

func newWiring(m *Module, cell nasbench.Spec) *wiring {
	n := cell.NumVertices()
	last := n - 1
	w := &wiring{cell: cell, channels: m.Channels, sources: make([][]int, n),
		projected: make([]bool, n), offset: make([]int, n)}
	off := 0
	for v := 1; v < n; v++ {
		w.projected[v] = cell.Edge(0, v)
		w.offset[v] = -1
		for s := 1; s < v; s++ {
			if cell.Edge(s, v) && v < last {
				w.sources[v] = append(w.sources[v], s)
			}
		}
		if v < last && cell.Edge(v, last) {
			w.offset[v] = off
			off += m.Channels[v]
		}
	}
	return w
}

func (w *wiring) last() int { return len(w.channels) - 1 }

// moduleBuffers are the activations of one run of a module from x into y. in[v] is the input
// of vertex v and out[v] its output, a channel view of y when v feeds the output. When v
// sums several tensors, sum[v] lists them (in[v] first when the projection writes it) and
// Add writes their sum into in[v]; otherwise in[v] is the projection, or a view of its one
// source. extra holds the projection that the output adds to the concatenation. For
// training, which needs every layer's output after the sums, proj[v] holds the projection
// that vertex v sums, and when concat is set the vertices that feed the output write buffers
// of their own, which are then concatenated into y.
type moduleBuffers struct {
	x, y    backend.Buffer
	in, out []backend.Buffer
	sum     [][]backend.Buffer
	extra   backend.Buffer
	concat  []backend.Buffer
	proj    []backend.Buffer
}

// allocFunc returns a buffer of c channels for the role named by key.
type allocFunc func(key string, c int) (backend.Buffer, error)

// newModuleBuffers wires the buffers of a module run from x into y. With keepOutputs, no
// sum overwrites the output of a layer.
func newModuleBuffers(be backend.Backend, w *wiring, x, y backend.Buffer, alloc allocFunc,
	keepOutputs bool) (*moduleBuffers, error) {
	n := len(w.channels)
	last := n - 1
	mb := &moduleBuffers{x: x, y: y, in: make([]backend.Buffer, n),
		out: make([]backend.Buffer, n), sum: make([][]backend.Buffer, n),
		proj: make([]backend.Buffer, n)}
	separate := keepOutputs && w.projected[last] && n > 2
	var err error
	for v := 1; v < last; v++ {
		c := w.channels[v]
		if w.offset[v] >= 0 && !separate {
			mb.out[v], err = be.ChannelView(y, w.offset[v], w.offset[v]+c)
		} else {
			mb.out[v], err = alloc(fmt.Sprintf("out%d", v), c)
		}
		if err != nil {
			return nil, err
		}
		if separate && w.offset[v] >= 0 {
			mb.concat = append(mb.concat, mb.out[v])
		}
		srcs := make([]backend.Buffer, len(w.sources[v]))
		for k, s := range w.sources[v] {
			if srcs[k], err = be.ChannelView(mb.out[s], 0, c); err != nil {
				return nil, err
			}
		}
		switch {
		case !w.projected[v] && len(srcs) == 1:
			mb.in[v] = srcs[0]
			continue
		case w.projected[v] && len(srcs) > 0:
			mb.sum[v] = srcs
		case !w.projected[v]:
			mb.sum[v] = srcs
		}
		if mb.in[v], err = alloc(fmt.Sprintf("in%d", v), c); err != nil {
			return nil, err
		}
		if w.projected[v] && mb.sum[v] != nil {
			target := mb.in[v]
			if keepOutputs {
				if target, err = alloc(fmt.Sprintf("proj%d", v), c); err != nil {
					return nil, err
				}
				mb.proj[v] = target
			}
			mb.sum[v] = append([]backend.Buffer{target}, mb.sum[v]...)
		}
	}
	if w.projected[last] && n > 2 {
		if mb.extra, err = alloc("extra", w.channels[last]); err != nil {
			return nil, err
		}
	}
	return mb, nil
}

// projectionTarget returns the buffer that the projection feeding vertex v writes.
func (mb *moduleBuffers) projectionTarget(w *wiring, v int) backend.Buffer {
	if v < w.last() {
		if mb.proj[v] != nil {
			return mb.proj[v]
		}
		return mb.in[v]
	}
	if mb.extra != nil {
		return mb.extra
	}
	return mb.y
}

// forwardModule runs a module: project(v) runs the projection feeding vertex v into
// mb.projectionTarget(w, v), and op(v) the op of interior vertex v from mb.in[v] into
// mb.out[v].
func forwardModule(be backend.Backend, w *wiring, mb *moduleBuffers, project,
	op func(v int) error) error {
	last := w.last()
	for v := 1; v < last; v++ {
		if w.projected[v] {
			if err := project(v); err != nil {
				return fmt.Errorf("vertex %d projection: %w", v, err)
			}
		}
		if mb.sum[v] != nil {
			if err := be.Add(mb.in[v], mb.sum[v]...); err != nil {
				return fmt.Errorf("vertex %d sum: %w", v, err)
			}
		}
		if err := op(v); err != nil {
			return fmt.Errorf("vertex %d: %w", v, err)
		}
	}
	if !w.projected[last] {
		return nil
	}
	if mb.concat != nil {
		if err := be.Concat(mb.y, mb.concat...); err != nil {
			return fmt.Errorf("output concatenation: %w", err)
		}
	}
	if err := project(last); err != nil {
		return fmt.Errorf("output projection: %w", err)
	}
	if mb.extra != nil {
		return be.Add(mb.y, mb.y, mb.extra)
	}
	return nil
}
