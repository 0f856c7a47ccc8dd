package nasnet

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/nasnet/nasbench"
	"github.com/renasgo/renas/nn"
)

// act is a host activation [n, c, side, side] for the reference network.
type act struct {
	n, c, side int
	v          []float64
}

func newAct(n, c, side int) *act {
	return &act{n: n, c: c, side: side, v: make([]float64, n*c*side*side)}
}

func (a *act) at(i, c, y, x int) float64 { return a.v[((i*a.c+c)*a.side+y)*a.side+x] }

// refConvBN is a k×k convolution with padding k/2, inference batch normalization and ReLU.
func refConvBN(x *act, l *ConvBN) *act {
	s := l.Conv.Weight.Shape()
	out, k := s[0], s[2]
	w := l.Conv.Weight.Float32s()
	y := newAct(x.n, out, x.side)
	for i := range x.n {
		for o := range out {
			gamma, beta := float64(l.Norm.Gamma.Float32s()[o]), float64(l.Norm.Beta.Float32s()[o])
			mean := float64(l.Norm.MovingMean.Float32s()[o])
			std := math.Sqrt(float64(l.Norm.MovingVariance.Float32s()[o]) + nn.BatchNormEps)
			for py := range x.side {
				for px := range x.side {
					var sum float64
					for c := range x.c {
						for ky := range k {
							for kx := range k {
								iy, ix := py+ky-k/2, px+kx-k/2
								if iy < 0 || ix < 0 || iy >= x.side || ix >= x.side {
									continue
								}
								sum += float64(w[((o*x.c+c)*k+ky)*k+kx]) * x.at(i, c, iy, ix)
							}
						}
					}
					v := gamma*(sum-mean)/std + beta
					y.v[((i*out+o)*x.side+py)*x.side+px] = max(v, 0)
				}
			}
		}
	}
	return y
}

// refMaxPool is a k×k max pool with stride stride; k = 3 pads by one on each side.
func refMaxPool(x *act, k, stride int) *act {
	side := x.side / stride
	y := newAct(x.n, x.c, side)
	pad := k / 2
	if k == 2 {
		pad = 0
	}
	for i := range x.n {
		for c := range x.c {
			for py := range side {
				for px := range side {
					m := math.Inf(-1)
					for ky := range k {
						for kx := range k {
							iy, ix := py*stride+ky-pad, px*stride+kx-pad
							if iy >= 0 && ix >= 0 && iy < x.side && ix < x.side {
								m = max(m, x.at(i, c, iy, ix))
							}
						}
					}
					y.v[((i*x.c+c)*side+py)*side+px] = m
				}
			}
		}
	}
	return y
}

// truncate keeps the first c channels of x.
func truncate(x *act, c int) *act {
	y := newAct(x.n, c, x.side)
	plane := x.side * x.side
	for i := range x.n {
		copy(y.v[i*c*plane:(i+1)*c*plane], x.v[i*x.c*plane:(i*x.c+c)*plane])
	}
	return y
}

func addInto(dst, x *act) {
	for i := range dst.v {
		dst.v[i] += x.v[i]
	}
}

// refModule follows build_module of NAS-Bench-101's model_builder.py.
func refModule(cell nasbench.Spec, m *Module, x *act) *act {
	n := cell.NumVertices()
	last := n - 1
	tensors := []*act{x}
	var concat []*act
	for v := 1; v < last; v++ {
		in := newAct(x.n, m.Channels[v], x.side)
		for s := 1; s < v; s++ {
			if cell.Edge(s, v) {
				addInto(in, truncate(tensors[s], m.Channels[v]))
			}
		}
		if cell.Edge(0, v) {
			addInto(in, refConvBN(x, m.Projections[v]))
		}
		var out *act
		if cell.Op(v) == nasbench.OpMaxPool3x3 {
			out = refMaxPool(in, 3, 1)
		} else {
			out = refConvBN(in, m.Ops[v])
		}
		tensors = append(tensors, out)
		if cell.Edge(v, last) {
			concat = append(concat, out)
		}
	}
	if len(concat) == 0 {
		return refConvBN(x, m.Projections[last])
	}
	y := newAct(x.n, m.OutChannels, x.side)
	plane := x.side * x.side
	for i := range x.n {
		off := i * m.OutChannels * plane
		for _, t := range concat {
			off += copy(y.v[off:], t.v[i*t.c*plane:(i+1)*t.c*plane])
		}
	}
	if cell.Edge(0, last) {
		addInto(y, refConvBN(x, m.Projections[last]))
	}
	return y
}

// refBench101 returns the logits of the reference network.
func refBench101(net *Network, x *act) []float64 {
	h := refConvBN(x, &ConvBN{Conv: net.Conv1, Norm: net.BN1})
	for s := range net.Modules {
		if s > 0 {
			h = refMaxPool(h, 2, 2)
		}
		for _, m := range net.Modules[s] {
			h = refModule(*net.Cell, m, h)
		}
	}
	w, b := net.Head.Weight.Float32s(), net.Head.Bias.Float32s()
	plane := float64(h.side * h.side)
	logits := make([]float64, x.n*NumClasses)
	for i := range x.n {
		for k := range NumClasses {
			sum := float64(b[k])
			for c := range h.c {
				var mean float64
				for _, v := range h.v[(i*h.c+c)*h.side*h.side : (i*h.c+c+1)*h.side*h.side] {
					mean += v
				}
				sum += float64(w[k*h.c+c]) * mean / plane
			}
			logits[i*NumClasses+k] = sum
		}
	}
	return logits
}

// randomizeStatistics gives every batch normalization random parameters and statistics, so
// that folding them into the convolutions is tested.
func randomizeStatistics(net *Network, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	for _, p := range net.Params() {
		if len(p.Value.Shape()) != 1 || strings.HasPrefix(p.Name, "linear") {
			continue
		}
		vals := p.Value.Float32s()
		for i := range vals {
			switch {
			case strings.HasSuffix(p.Name, "moving_variance"):
				vals[i] = float32(0.5 + r.Float64())
			case strings.HasSuffix(p.Name, "gamma"):
				vals[i] = float32(0.5 + r.Float64())
			default:
				vals[i] = float32(r.NormFloat64() * 0.3)
			}
		}
	}
}

// referenceCells are cells that cover every wiring rule: the test vector (sums, max pool,
// several feeders), the input wired straight to the output, a two-vertex cell, and a cell
// whose vertices get unequal channel counts.
func referenceCells(t *testing.T) []nasbench.Spec {
	t.Helper()
	spec := func(matrix [][]int, ops ...nasbench.Op) nasbench.Spec {
		s, err := nasbench.NewSpec(matrix, ops)
		require.NoError(t, err)
		return s
	}
	in, out := nasbench.OpInput, nasbench.OpOutput
	c3, c1, mp := nasbench.OpConv3x3, nasbench.OpConv1x1, nasbench.OpMaxPool3x3
	return []nasbench.Spec{
		testCell(t),
		spec([][]int{{0, 1, 1}, {0, 0, 1}, {0, 0, 0}}, in, mp, out),
		spec([][]int{{0, 1}, {0, 0}}, in, out),
		spec([][]int{
			{0, 1, 0, 0, 0, 1},
			{0, 0, 1, 1, 1, 0},
			{0, 0, 0, 0, 0, 1},
			{0, 0, 0, 0, 0, 1},
			{0, 0, 0, 0, 0, 1},
			{0, 0, 0, 0, 0, 0},
		}, in, c1, c3, mp, c3, out),
	}
}

func TestBench101InferenceMatchesReference(t *testing.T) {
	const n, width = 2, 6
	r := rand.New(rand.NewPCG(3, 4))
	x := newAct(n, 3, ImageSize)
	host := make([]float32, len(x.v))
	for i := range x.v {
		host[i] = float32(r.NormFloat64())
		x.v[i] = float64(host[i])
	}
	be, err := cpu.New(2)
	require.NoError(t, err)
	defer be.Close()
	for k, cell := range referenceCells(t) {
		net, err := NewBench101(cell, width, uint64(k+1))
		require.NoError(t, err)
		randomizeStatistics(net, uint64(k+1))
		inf, err := NewInference(be, net)
		require.NoError(t, err)
		got, err := inf.Forward(mustTensor(t, host, n, 3, ImageSize, ImageSize))
		require.NoError(t, err)
		want := refBench101(net, x)
		for i, v := range got.Float32s() {
			require.InDelta(t, want[i], v, 1e-4*(1+math.Abs(want[i])), "cell %d logit %d", k, i)
		}
	}
}
