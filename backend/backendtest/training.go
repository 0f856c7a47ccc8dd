package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/tensor"
)

// RunTraining checks every backward method of a Trainer against central finite differences
// of its forward method, and the optimizer updates against their formulas. Each gradient test
// uses the loss L = Σ y·r for a fixed random r, so that dL/dy = r.
func RunTraining(t *testing.T, open func(t *testing.T) backend.Trainer) {
	tests := []struct {
		name string
		fn   func(*testing.T, backend.Trainer)
	}{
		{"Conv2DGradients", testConv2DGradients},
		{"BatchNormGradients", testBatchNormGradients},
		{"BatchNormRunningStats", testBatchNormRunningStats},
		{"PoolGradients", testPoolGradients},
		{"ReLUGradients", testReLUGradients},
		{"LinearGradients", testLinearGradients},
		{"SGDUpdate", testSGDUpdate},
		{"AdamUpdate", testAdamUpdate},
		{"SumSquaresAndScale", testSumSquaresAndScale},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t)
			defer b.Close()
			tc.fn(t, b)
		})
	}
}

// host is a host copy of a buffer's contents with its shape.
type host struct {
	data  []float32
	shape [4]int
}

func newHost(r *rand.Rand, scale float64, n, c, h, w int) *host {
	return &host{data: randSlice(r, n*c*h*w, scale), shape: [4]int{n, c, h, w}}
}

func (x *host) buffer(t *testing.T, b backend.Backend) backend.Buffer {
	t.Helper()
	return upload(t, b, x.data, x.shape[0], x.shape[1], x.shape[2], x.shape[3])
}

func zeros(t *testing.T, b backend.Backend, shape tensor.Shape) backend.Buffer {
	t.Helper()
	buf, err := b.NewBuffer(shape[0], shape[1], shape[2], shape[3])
	require.NoError(t, err)
	return buf
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// checkGradient compares analytic[i] with the central difference of loss with respect to
// x.data[i], for a sample of indices. loss reads x.data each time it is called.
func checkGradient(t *testing.T, what string, x *host, analytic []float32, loss func() float64,
	h, tol float64) {
	t.Helper()
	require.Len(t, analytic, len(x.data), what)
	r := rand.New(rand.NewPCG(uint64(len(x.data)), 99))
	samples := min(len(x.data), 40)
	for s := range samples {
		i := s
		if len(x.data) > samples {
			i = r.IntN(len(x.data))
		}
		orig := x.data[i]
		x.data[i] = orig + float32(h)
		up := loss()
		x.data[i] = orig - float32(h)
		down := loss()
		x.data[i] = orig
		numeric := (up - down) / (2 * h)
		diff := math.Abs(numeric - float64(analytic[i]))
		if diff > tol*math.Max(1, math.Abs(numeric)) {
			t.Fatalf("%s: element %d: analytic gradient %g, finite difference %g", what, i,
				analytic[i], numeric)
		}
	}
}

func testConv2DGradients(t *testing.T, b backend.Trainer) {
	r := rand.New(rand.NewPCG(31, 32))
	cases := []struct{ n, c, hw, out, k, stride, pad int }{
		{2, 3, 6, 4, 3, 1, 1}, {3, 4, 5, 6, 1, 1, 0}, {2, 2, 7, 3, 3, 2, 1}, {1, 3, 6, 2, 5, 1, 2},
		{2, 3, 6, 4, 3, 1, 0}, {2, 2, 4, 3, 1, 1, 1},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("n=%d,c=%d,hw=%d,out=%d,k=%d,s=%d,p=%d", tc.n, tc.c, tc.hw, tc.out,
			tc.k, tc.stride, tc.pad)
		d := backend.Conv2DDesc{InChannels: tc.c, OutChannels: tc.out, KernelH: tc.k,
			KernelW: tc.k, StrideH: tc.stride, StrideW: tc.stride, PadH: tc.pad, PadW: tc.pad}
		x := newHost(r, 1, tc.n, tc.c, tc.hw, tc.hw)
		w := newHost(r, 0.5, tc.out, tc.c, tc.k, tc.k)
		ys, err := backend.ConvOutputShape(d, tensor.Shape{tc.n, tc.c, tc.hw, tc.hw})
		require.NoError(t, err)
		rw := newHost(r, 1, ys[0], ys[1], ys[2], ys[3])
		loss := func() float64 {
			y := zeros(t, b, ys)
			require.NoError(t, b.Conv2DForward(d, x.buffer(t, b), w.buffer(t, b), y))
			return dot(download(t, b, y), rw.data)
		}
		dy := rw.buffer(t, b)
		dx := zeros(t, b, tensor.Shape{tc.n, tc.c, tc.hw, tc.hw})
		require.NoError(t, b.Conv2DBackwardData(d, w.buffer(t, b), dy, dx, false))
		dw := zeros(t, b, tensor.Shape{tc.out, tc.c, tc.k, tc.k})
		require.NoError(t, b.Conv2DBackwardFilter(d, x.buffer(t, b), dy, dw))
		checkGradient(t, name+" dx", x, download(t, b, dx), loss, 1e-2, 2e-3)
		checkGradient(t, name+" dw", w, download(t, b, dw), loss, 1e-2, 2e-3)

		// With accumulate, the data gradient is added to what dx holds.
		gotDx := download(t, b, dx)
		require.NoError(t, b.Conv2DBackwardData(d, w.buffer(t, b), dy, dx, true))
		twice := download(t, b, dx)
		for i := range gotDx {
			require.InDelta(t, 2*gotDx[i], twice[i], 1e-4, "%s accumulate, element %d", name, i)
		}
	}
}

func vecHost(r *rand.Rand, c int, lo, hi float64) *host {
	v := &host{data: make([]float32, c), shape: [4]int{1, c, 1, 1}}
	for i := range v.data {
		v.data[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return v
}

func testBatchNormGradients(t *testing.T, b backend.Trainer) {
	r := rand.New(rand.NewPCG(33, 34))
	n, c, hw := 3, 4, 5
	for _, act := range []backend.Activation{backend.Identity, backend.ReLU} {
		d := backend.BatchNormDesc{Channels: c, Eps: 1e-5, Activation: act}
		x := newHost(r, 2, n, c, hw, hw)
		gamma, beta := vecHost(r, c, 0.5, 1.5), vecHost(r, c, -0.5, 0.5)
		rw := newHost(r, 1, n, c, hw, hw)
		vec := func() backend.Buffer { return zeros(t, b, tensor.Shape{1, c, 1, 1}) }
		forward := func() (y, mean, inv backend.Buffer) {
			y = zeros(t, b, tensor.Shape{n, c, hw, hw})
			mean, inv = vec(), vec()
			require.NoError(t, b.BatchNormForwardTraining(d, x.buffer(t, b), y,
				gamma.buffer(t, b), beta.buffer(t, b), vec(), vec(), mean, inv, 0.1))
			return y, mean, inv
		}
		loss := func() float64 {
			y, _, _ := forward()
			return dot(download(t, b, y), rw.data)
		}
		y, mean, inv := forward()
		dx, dg, db := zeros(t, b, tensor.Shape{n, c, hw, hw}), vec(), vec()
		require.NoError(t, b.BatchNormBackward(d, x.buffer(t, b), y, rw.buffer(t, b),
			gamma.buffer(t, b), beta.buffer(t, b), mean, inv, dx, dg, db))
		name := fmt.Sprintf("activation %d", act)
		checkGradient(t, name+" dx", x, download(t, b, dx), loss, 1e-3, 5e-3)
		checkGradient(t, name+" dgamma", gamma, download(t, b, dg), loss, 1e-3, 5e-3)
		checkGradient(t, name+" dbeta", beta, download(t, b, db), loss, 1e-3, 5e-3)
	}
}

func testBatchNormRunningStats(t *testing.T, b backend.Trainer) {
	r := rand.New(rand.NewPCG(35, 36))
	n, c, hw := 4, 3, 3
	x := newHost(r, 2, n, c, hw, hw)
	rm, rv := vecHost(r, c, -1, 1), vecHost(r, c, 0.5, 2)
	rmBuf, rvBuf := rm.buffer(t, b), rv.buffer(t, b)
	ones := &host{data: []float32{1, 1, 1}, shape: [4]int{1, c, 1, 1}}
	zero := &host{data: make([]float32, c), shape: [4]int{1, c, 1, 1}}
	mean, inv := zero.buffer(t, b), zero.buffer(t, b)
	y := zeros(t, b, tensor.Shape{n, c, hw, hw})
	require.NoError(t, b.BatchNormForwardTraining(backend.BatchNormDesc{Channels: c, Eps: 1e-5},
		x.buffer(t, b), y, ones.buffer(t, b), zero.buffer(t, b), rmBuf, rvBuf, mean, inv, 0.1))
	gotMean, gotVar := download(t, b, rmBuf), download(t, b, rvBuf)
	m := float64(n * hw * hw)
	for ch := range c {
		var s, sq float64
		for i := range n {
			for p := range hw * hw {
				v := float64(x.data[(i*c+ch)*hw*hw+p])
				s += v
				sq += v * v
			}
		}
		mu := s / m
		unbiased := (sq - m*mu*mu) / (m - 1)
		require.InDelta(t, 0.9*float64(rm.data[ch])+0.1*mu, gotMean[ch], 1e-5, "mean %d", ch)
		require.InDelta(t, 0.9*float64(rv.data[ch])+0.1*unbiased, gotVar[ch], 1e-4, "var %d", ch)
	}
}

// distinctHost returns values that differ pairwise by at least 0.05, so a small perturbation
// never changes which element of a pooling window is the largest.
func distinctHost(r *rand.Rand, n, c, h, w int) *host {
	x := &host{data: make([]float32, n*c*h*w), shape: [4]int{n, c, h, w}}
	for i, p := range r.Perm(len(x.data)) {
		x.data[i] = float32(p)*0.05 - 1
	}
	return x
}

func testPoolGradients(t *testing.T, b backend.Trainer) {
	r := rand.New(rand.NewPCG(37, 38))
	cases := []backend.PoolDesc{
		{Kind: backend.MaxPool, KernelH: 3, KernelW: 3, StrideH: 1, StrideW: 1, Padding: backend.Same},
		{Kind: backend.MaxPool, KernelH: 2, KernelW: 2, StrideH: 2, StrideW: 2, Padding: backend.Valid},
		{Kind: backend.AvgPool, KernelH: 4, KernelW: 4, StrideH: 4, StrideW: 4, Padding: backend.Valid},
		{Kind: backend.AvgPool, KernelH: 3, KernelW: 3, StrideH: 2, StrideW: 2, Padding: backend.Same},
	}
	for _, d := range cases {
		name := fmt.Sprintf("%+v", d)
		x := distinctHost(r, 2, 3, 8, 8)
		op, err := b.NewPool(d)
		require.NoError(t, err)
		ys, err := op.OutputShape(tensor.Shape{2, 3, 8, 8})
		require.NoError(t, err)
		rw := newHost(r, 1, ys[0], ys[1], ys[2], ys[3])
		loss := func() float64 {
			y := zeros(t, b, ys)
			require.NoError(t, op.Run(x.buffer(t, b), y))
			return dot(download(t, b, y), rw.data)
		}
		dx := zeros(t, b, tensor.Shape{2, 3, 8, 8})
		require.NoError(t, b.PoolBackward(d, x.buffer(t, b), rw.buffer(t, b), dx, false))
		checkGradient(t, name, x, download(t, b, dx), loss, 1e-2, 1e-3)
	}
}

func testLinearGradients(t *testing.T, b backend.Trainer) {
	r := rand.New(rand.NewPCG(39, 40))
	n, c, out := 5, 7, 10
	x := newHost(r, 1, n, c, 1, 1)
	w := newHost(r, 0.5, out, c, 1, 1)
	bias := newHost(r, 0.5, 1, out, 1, 1)
	rw := newHost(r, 1, n, out, 1, 1)
	loss := func() float64 {
		y := zeros(t, b, tensor.Shape{n, out, 1, 1})
		require.NoError(t, b.LinearForward(x.buffer(t, b), w.buffer(t, b), bias.buffer(t, b), y))
		return dot(download(t, b, y), rw.data)
	}
	dx := zeros(t, b, tensor.Shape{n, c, 1, 1})
	dw := zeros(t, b, tensor.Shape{out, c, 1, 1})
	db := zeros(t, b, tensor.Shape{1, out, 1, 1})
	require.NoError(t, b.LinearBackward(x.buffer(t, b), w.buffer(t, b), rw.buffer(t, b), dx, dw,
		db, false))
	checkGradient(t, "dx", x, download(t, b, dx), loss, 1e-2, 1e-3)
	checkGradient(t, "dw", w, download(t, b, dw), loss, 1e-2, 1e-3)
	checkGradient(t, "dbias", bias, download(t, b, db), loss, 1e-2, 1e-3)
}

func testSGDUpdate(t *testing.T, b backend.Trainer) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, nesterov := range []bool{false, true} {
		p, g, v := newHost(r, 1, 1, 6, 1, 1), newHost(r, 1, 1, 6, 1, 1), newHost(r, 1, 1, 6, 1, 1)
		pb, gb, vb := p.buffer(t, b), g.buffer(t, b), v.buffer(t, b)
		const lr, mu, wd = 0.1, 0.9, 5e-4
		require.NoError(t, b.SGDUpdate(pb, gb, vb, lr, mu, wd, nesterov))
		gotP, gotV := download(t, b, pb), download(t, b, vb)
		for i := range p.data {
			d := float64(g.data[i]) + wd*float64(p.data[i])
			vel := mu*float64(v.data[i]) + d
			step := vel
			if nesterov {
				step = d + mu*vel
			}
			require.InDelta(t, vel, gotV[i], 1e-6, "velocity %d", i)
			require.InDelta(t, float64(p.data[i])-lr*step, gotP[i], 1e-6, "param %d", i)
		}
	}
}

func testAdamUpdate(t *testing.T, b backend.Trainer) {
	r := rand.New(rand.NewPCG(43, 44))
	p, g := newHost(r, 1, 1, 5, 1, 1), newHost(r, 1, 1, 5, 1, 1)
	m, v := newHost(r, 0.1, 1, 5, 1, 1), &host{data: []float32{0.1, 0.2, 0.3, 0.4, 0.5},
		shape: [4]int{1, 5, 1, 1}}
	pb, gb, mb, vb := p.buffer(t, b), g.buffer(t, b), m.buffer(t, b), v.buffer(t, b)
	const lr, b1, b2, eps, wd, step = 1e-3, 0.9, 0.999, 1e-8, 0.01, 3
	require.NoError(t, b.AdamUpdate(pb, gb, mb, vb, lr, b1, b2, eps, wd, step))
	got := download(t, b, pb)
	for i := range p.data {
		gi := float64(g.data[i]) + wd*float64(p.data[i])
		mi := b1*float64(m.data[i]) + (1-b1)*gi
		vi := b2*float64(v.data[i]) + (1-b2)*gi*gi
		want := float64(p.data[i]) - lr*(mi/(1-math.Pow(b1, step)))/
			(math.Sqrt(vi/(1-math.Pow(b2, step)))+eps)
		require.InDelta(t, want, got[i], 1e-6, "param %d", i)
	}
	require.Error(t, b.AdamUpdate(pb, gb, mb, vb, lr, b1, b2, eps, wd, 0))
}

func testSumSquaresAndScale(t *testing.T, b backend.Trainer) {
	// 37 elements: a whole number of vector blocks and a remainder.
	x := &host{data: make([]float32, 37), shape: [4]int{1, 37, 1, 1}}
	var want float64
	for i := range x.data {
		x.data[i] = float32(i) - 18.5
		want += float64(x.data[i]) * float64(x.data[i])
	}
	xb := x.buffer(t, b)
	got, err := b.SumSquares(xb)
	require.NoError(t, err)
	require.InDelta(t, want, got, 1e-9*want, "sum of squares")

	require.NoError(t, b.Scale(xb, -0.5))
	scaled := download(t, b, xb)
	for i, v := range x.data {
		require.Equal(t, -0.5*v, scaled[i], "element %d after Scale(-0.5)", i)
	}
}

func testReLUGradients(t *testing.T, b backend.Trainer) {
	r := rand.New(rand.NewPCG(45, 46))
	x := distinctHost(r, 2, 3, 4, 5) // no value within 0.025 of the kink at 0
	for i := range x.data {
		x.data[i] += 0.025
	}
	op, err := b.NewActivation(backend.ReLU)
	require.NoError(t, err)
	shape := tensor.Shape{2, 3, 4, 5}
	rw := newHost(r, 1, 2, 3, 4, 5)
	forward := func() backend.Buffer {
		y := zeros(t, b, shape)
		require.NoError(t, op.Run(x.buffer(t, b), y))
		return y
	}
	loss := func() float64 { return dot(download(t, b, forward()), rw.data) }
	dx := zeros(t, b, shape)
	require.NoError(t, b.ReLUBackward(forward(), rw.buffer(t, b), dx))
	checkGradient(t, "dx", x, download(t, b, dx), loss, 1e-2, 1e-4)
	dy := rw.buffer(t, b)
	require.NoError(t, b.ReLUBackward(forward(), dy, dy), "in place")
	assertClose(t, download(t, b, dy), download(t, b, dx), 0, 0, "in place")
}
