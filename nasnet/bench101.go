package nasnet

import (
	"fmt"
	"math/rand/v2"

	"github.com/renasgo/renas/nasnet/nasbench"
	"github.com/renasgo/renas/nn"
)

// ConvBN is a convolution without bias followed by batch normalization and ReLU.
type ConvBN struct {
	Conv *nn.Conv2d
	Norm *nn.BatchNorm2d
}

func newConvBN(r *rand.Rand, in, out, k int) *ConvBN {
	return &ConvBN{Conv: nn.NewConv2d(r, in, out, k, 1, k/2, false),
		Norm: nn.NewBatchNorm2d(out)}
}

func (l *ConvBN) params(prefix string) []nn.Param {
	return append(l.Conv.Params(prefix+".conv"), l.Norm.Params(prefix+".bn")...)
}

// Module is one cell of a NAS-Bench-101 network with its layers. Vertex v has Channels[v]
// channels; Ops[v] is its convolution (nil for a max pool, the input and the output), and
// Projections[v] the 1×1 projection of the module input that it sums with its other inputs
// (nil without the edge 0→v). Projections of the output vertex is added to the
// concatenation of the vertices that feed it.
type Module struct {
	InChannels, OutChannels int
	Channels                []int
	Ops                     []*ConvBN
	Projections             []*ConvBN
}

// NewBench101 returns the network that NAS-Bench-101 builds around cell. A 3×3 stem of width
// channels comes first, then three stacks of three modules with a 2×2 max pool before the
// second and third. Those two stacks double the channels, to 4·width in the last one. Global
// average pooling and a dense layer end the network. Weights are drawn from a generator
// seeded with seed, and batch normalization is the identity. Every vertex must get at least
// one channel.
func NewBench101(cell nasbench.Spec, width int, seed uint64) (*Network, error) {
	if width <= 0 || width%2 != 0 || width > MaxWidth {
		return nil, fmt.Errorf("nasnet: width must be a positive even number up to %d, got %d",
			MaxWidth, width)
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	net := &Network{Width: width, Cell: &cell, Conv1: nn.NewConv2d(r, 3, width, 3, 1, 1, false),
		BN1: nn.NewBatchNorm2d(width)}
	in, out := width, width
	for s := range net.Modules {
		if s > 0 {
			out *= 2
		}
		for i := range net.Modules[s] {
			m, err := newModule(r, cell, in, out)
			if err != nil {
				return nil, err
			}
			net.Modules[s][i] = m
			in = out
		}
	}
	net.Head = nn.NewLinear(r, out, NumClasses)
	return net, nil
}

func newModule(r *rand.Rand, cell nasbench.Spec, in, out int) (*Module, error) {
	n := cell.NumVertices()
	m := &Module{InChannels: in, OutChannels: out, Channels: cell.VertexChannels(in, out),
		Ops: make([]*ConvBN, n), Projections: make([]*ConvBN, n)}
	for v := 1; v < n; v++ {
		c := m.Channels[v]
		if c < 1 {
			return nil, fmt.Errorf("nasnet: width %d leaves vertex %d of the cell with no "+
				"channels", in, v)
		}
		if cell.Edge(0, v) {
			m.Projections[v] = newConvBN(r, in, c, 1)
		}
		switch cell.Op(v) {
		case nasbench.OpConv3x3:
			m.Ops[v] = newConvBN(r, c, c, 3)
		case nasbench.OpConv1x1:
			m.Ops[v] = newConvBN(r, c, c, 1)
		}
	}
	return m, nil
}

// params returns the parameters of a module under prefix, vertex by vertex: the
// projection, then the op; the output's projection last.
func (m *Module) params(prefix string) []nn.Param {
	var ps []nn.Param
	last := len(m.Channels) - 1
	for v := 1; v <= last; v++ {
		name := fmt.Sprintf("%svertex_%d", prefix, v)
		if v == last {
			name = prefix + "output"
		}
		if p := m.Projections[v]; p != nil {
			ps = append(ps, p.params(name+".projection")...)
		}
		if op := m.Ops[v]; op != nil {
			ps = append(ps, op.params(name)...)
		}
	}
	return ps
}

// macs returns the multiply-accumulate count of the module's convolutions on side×side maps.
func (m *Module) macs(side int) int64 {
	var total int64
	for _, l := range append(append([]*ConvBN(nil), m.Ops...), m.Projections...) {
		if l != nil {
			s := l.Conv.Weight.Shape()
			total += int64(s[0]*s[1]*s[2]*s[3]) * int64(side*side)
		}
	}
	return total
}

// newNetwork returns the ReNAS network, or the NAS-Bench-101 network around cell when cell
// is not nil.
func newNetwork(cell *nasbench.Spec, width int, seed uint64) (*Network, error) {
	if cell != nil {
		return NewBench101(*cell, width, seed)
	}
	return New(width, seed)
}

// cellCode returns the code of cell, or 0 for nil.
func cellCode(cell *nasbench.Spec) uint64 {
	if cell == nil {
		return 0
	}
	return cell.Code()
}

// cellName describes a network's cell for messages.
func cellName(cell *nasbench.Spec) string {
	if cell == nil {
		return "none (the ReNAS network)"
	}
	return cell.String()
}
