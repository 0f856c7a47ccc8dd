// Package backendtest is a conformance suite for implementations of backend.Backend. Each
// test runs an op on the backend and compares it with a slow float64 reference over odd
// sizes, strides and paddings, and views into channel slices. A backend's test file calls
// Run with a function that opens the backend.
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

// Run runs every conformance test on the backend returned by open.
func Run(t *testing.T, open func(t *testing.T) backend.Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, backend.Backend)
	}{
		{"Conv2D", testConv2D},
		{"Conv2DIntoView", testConv2DIntoView},
		{"BatchNorm", testBatchNorm},
		{"Activation", testActivation},
		{"Pool", testPool},
		{"Linear", testLinear},
		{"Concat", testConcat},
		{"Add", testAdd},
		{"ShapeErrors", testShapeErrors},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t)
			defer b.Close()
			tc.fn(t, b)
		})
	}
}

func randSlice(r *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64() * scale)
	}
	return s
}

func mustTensor(t *testing.T, data []float32, shape ...int) *tensor.Tensor {
	t.Helper()
	x, err := tensor.FromFloat32(data, shape...)
	require.NoError(t, err)
	return x
}

func upload(t *testing.T, b backend.Backend, data []float32, n, c, h, w int) backend.Buffer {
	t.Helper()
	buf, err := b.NewBuffer(n, c, h, w)
	require.NoError(t, err)
	require.NoError(t, b.Upload(buf, mustTensor(t, data, n, c, h, w)))
	return buf
}

func download(t *testing.T, b backend.Backend, buf backend.Buffer) []float32 {
	t.Helper()
	n, err := buf.Shape().NumElements()
	require.NoError(t, err)
	out := tensor.Zeros(n)
	require.NoError(t, b.Download(out, buf))
	require.NoError(t, b.Sync())
	return out.Float32s()
}

// assertClose fails at the first element whose error exceeds max(atol, rtol·|want|).
func assertClose(t *testing.T, got, want []float32, atol, rtol float64, what string) {
	t.Helper()
	require.Equal(t, len(want), len(got), "%s: length", what)
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) || math.Abs(g-w) > math.Max(atol, rtol*math.Abs(w)) {
			t.Fatalf("%s: element %d = %g, want %g", what, i, g, w)
		}
	}
}

func testConv2D(t *testing.T, b backend.Backend) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		n, c, h, w, out, k, stride, pad int
		bias                            bool
		act                             backend.Activation
	}{
		{1, 3, 9, 9, 5, 3, 1, 1, false, backend.Identity},
		{2, 4, 8, 8, 8, 1, 1, 0, false, backend.ReLU},
		{3, 5, 7, 6, 3, 3, 2, 1, true, backend.ReLU},
		{1, 2, 9, 9, 4, 5, 1, 2, true, backend.Identity},
		{4, 7, 5, 5, 17, 3, 1, 0, true, backend.ReLU},
		{5, 16, 8, 8, 16, 3, 1, 1, false, backend.ReLU},
		{1, 3, 4, 4, 2, 1, 2, 1, true, backend.Identity},
		{2, 33, 6, 6, 70, 1, 1, 0, true, backend.ReLU},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("n=%d,c=%d,hw=%dx%d,out=%d,k=%d,s=%d,p=%d", tc.n, tc.c, tc.h, tc.w,
			tc.out, tc.k, tc.stride, tc.pad)
		t.Run(name, func(t *testing.T) {
			d := backend.Conv2DDesc{InChannels: tc.c, OutChannels: tc.out, KernelH: tc.k,
				KernelW: tc.k, StrideH: tc.stride, StrideW: tc.stride, PadH: tc.pad,
				PadW: tc.pad, Activation: tc.act}
			x := randSlice(r, tc.n*tc.c*tc.h*tc.w, 1)
			w := randSlice(r, tc.out*tc.c*tc.k*tc.k, 0.3)
			var bias []float32
			var biasT *tensor.Tensor
			if tc.bias {
				bias = randSlice(r, tc.out, 0.5)
				biasT = mustTensor(t, bias, tc.out)
			}
			op, err := b.NewConv2D(d, mustTensor(t, w, tc.out, tc.c, tc.k, tc.k), biasT)
			require.NoError(t, err)
			xb := upload(t, b, x, tc.n, tc.c, tc.h, tc.w)
			os, err := op.OutputShape(xb.Shape())
			require.NoError(t, err)
			yb, err := b.NewBuffer(os[0], os[1], os[2], os[3])
			require.NoError(t, err)
			require.NoError(t, op.Run(xb, yb))
			want := refConv(x, tc.n, tc.c, tc.h, tc.w, w, bias, d, os[2], os[3])
			assertClose(t, download(t, b, yb), want, 1e-4, 1e-4, name)
		})
	}
}

// testConv2DIntoView writes a convolution into the second channel range of a buffer and
// checks that the first range is left untouched.
func testConv2DIntoView(t *testing.T, b backend.Backend) {
	r := rand.New(rand.NewPCG(3, 4))
	n, c, h, w, out := 3, 4, 6, 6, 5
	x := randSlice(r, n*c*h*w, 1)
	wt := randSlice(r, out*c*9, 0.3)
	d := backend.Conv2DDesc{InChannels: c, OutChannels: out, KernelH: 3, KernelW: 3,
		StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	op, err := b.NewConv2D(d, mustTensor(t, wt, out, c, 3, 3), nil)
	require.NoError(t, err)
	first := randSlice(r, n*2*h*w, 1)
	whole, err := b.NewBuffer(n, 2+out, h, w)
	require.NoError(t, err)
	head, err := b.ChannelView(whole, 0, 2)
	require.NoError(t, err)
	require.NoError(t, b.Upload(head, mustTensor(t, first, n, 2, h, w)))
	tail, err := b.ChannelView(whole, 2, 2+out)
	require.NoError(t, err)
	require.NoError(t, op.Run(upload(t, b, x, n, c, h, w), tail))
	got := download(t, b, whole)
	want := refConv(x, n, c, h, w, wt, nil, d, h, w)
	plane := h * w
	for i := range n {
		assertClose(t, got[i*(2+out)*plane:][:2*plane], first[i*2*plane:][:2*plane], 0, 0,
			fmt.Sprintf("image %d, untouched channels", i))
		assertClose(t, got[(i*(2+out)+2)*plane:][:out*plane], want[i*out*plane:][:out*plane],
			1e-4, 1e-4, fmt.Sprintf("image %d, conv channels", i))
	}
}

func testBatchNorm(t *testing.T, b backend.Backend) {
	r := rand.New(rand.NewPCG(5, 6))
	n, c, h, w := 3, 6, 5, 7
	x := randSlice(r, n*c*h*w, 2)
	gamma, beta, mean := randSlice(r, c, 1), randSlice(r, c, 1), randSlice(r, c, 1)
	variance := make([]float32, c)
	for i := range variance {
		variance[i] = 0.1 + r.Float32()*2
	}
	for _, act := range []backend.Activation{backend.Identity, backend.ReLU} {
		op, err := b.NewBatchNorm(backend.BatchNormDesc{Channels: c, Eps: 1e-5, Activation: act},
			mustTensor(t, gamma, c), mustTensor(t, beta, c), mustTensor(t, mean, c),
			mustTensor(t, variance, c))
		require.NoError(t, err)
		xb := upload(t, b, x, n, c, h, w)
		yb, err := b.NewBuffer(n, c, h, w)
		require.NoError(t, err)
		require.NoError(t, op.Run(xb, yb))
		want := refBatchNorm(x, n, c, h*w, gamma, beta, mean, variance, 1e-5,
			act == backend.ReLU)
		assertClose(t, download(t, b, yb), want, 1e-5, 1e-5, fmt.Sprintf("activation %d", act))
	}
}

func testActivation(t *testing.T, b backend.Backend) {
	r := rand.New(rand.NewPCG(7, 8))
	x := randSlice(r, 2*3*4*5, 1)
	op, err := b.NewActivation(backend.ReLU)
	require.NoError(t, err)
	xb := upload(t, b, x, 2, 3, 4, 5)
	require.NoError(t, op.Run(xb, xb), "in place")
	got := download(t, b, xb)
	for i, v := range x {
		require.Equal(t, max(v, 0), got[i], "element %d", i)
	}
}

func testPool(t *testing.T, b backend.Backend) {
	r := rand.New(rand.NewPCG(9, 10))
	cases := []backend.PoolDesc{
		{Kind: backend.MaxPool, KernelH: 3, KernelW: 3, StrideH: 1, StrideW: 1, Padding: backend.Same},
		{Kind: backend.MaxPool, KernelH: 2, KernelW: 2, StrideH: 2, StrideW: 2, Padding: backend.Valid},
		{Kind: backend.MaxPool, KernelH: 2, KernelW: 2, StrideH: 2, StrideW: 2, Padding: backend.Same},
		{Kind: backend.AvgPool, KernelH: 8, KernelW: 8, StrideH: 1, StrideW: 1, Padding: backend.Valid},
		{Kind: backend.AvgPool, KernelH: 3, KernelW: 3, StrideH: 2, StrideW: 2, Padding: backend.Same},
		{Kind: backend.MaxPool, KernelH: 3, KernelW: 2, StrideH: 2, StrideW: 1, Padding: backend.Valid},
	}
	sizes := [][2]int{{8, 8}, {9, 9}, {11, 10}, {1, 5}, {2, 1}, {3, 2}}
	for _, hw := range sizes {
		for _, d := range cases {
			probe := tensor.Shape{1, 1, hw[0], hw[1]}
			if _, _, _, err := backend.PoolOutputShape(d, probe); err != nil {
				continue // the window does not fit this small input
			}
			name := fmt.Sprintf("%dx%d/%+v", hw[0], hw[1], d)
			n, c, h, w := 2, 3, hw[0], hw[1]
			x := randSlice(r, n*c*h*w, 1)
			op, err := b.NewPool(d)
			require.NoError(t, err, name)
			xb := upload(t, b, x, n, c, h, w)
			os, padTop, padLeft, err := backend.PoolOutputShape(d, xb.Shape())
			require.NoError(t, err, name)
			yb, err := b.NewBuffer(os[0], os[1], os[2], os[3])
			require.NoError(t, err)
			require.NoError(t, op.Run(xb, yb), name)
			want := refPool(x, n, c, h, w, d, os[2], os[3], padTop, padLeft)
			assertClose(t, download(t, b, yb), want, 1e-6, 1e-6, name)
		}
	}
}

func testLinear(t *testing.T, b backend.Backend) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 3, 32} {
		c, h, w, out := 7, 2, 3, 10
		in := c * h * w
		x := randSlice(r, n*in, 1)
		wt, bias := randSlice(r, out*in, 0.2), randSlice(r, out, 1)
		op, err := b.NewLinear(mustTensor(t, wt, out, in), mustTensor(t, bias, out))
		require.NoError(t, err)
		xb := upload(t, b, x, n, c, h, w)
		yb, err := b.NewBuffer(n, out, 1, 1)
		require.NoError(t, err)
		require.NoError(t, op.Run(xb, yb))
		assertClose(t, download(t, b, yb), refLinear(x, n, in, wt, bias, out), 1e-5, 1e-5,
			fmt.Sprintf("n=%d", n))
	}
}

func testConcat(t *testing.T, b backend.Backend) {
	r := rand.New(rand.NewPCG(13, 14))
	n, h, w := 3, 4, 5
	chans := []int{2, 5, 1}
	var bufs []backend.Buffer
	var parts [][]float32
	for _, c := range chans {
		p := randSlice(r, n*c*h*w, 1)
		parts = append(parts, p)
		bufs = append(bufs, upload(t, b, p, n, c, h, w))
	}
	y, err := b.NewBuffer(n, 8, h, w)
	require.NoError(t, err)
	require.NoError(t, b.Concat(y, bufs...))
	got := download(t, b, y)
	plane := h * w
	for i := range n {
		off := i * 8 * plane
		for k, c := range chans {
			assertClose(t, got[off:off+c*plane], parts[k][i*c*plane:(i+1)*c*plane], 0, 0,
				fmt.Sprintf("image %d, part %d", i, k))
			off += c * plane
		}
	}
	require.Error(t, b.Concat(y, bufs[0], bufs[1]), "channel count mismatch")
}

func testAdd(t *testing.T, b backend.Backend) {
	r := rand.New(rand.NewPCG(15, 16))
	n, c, h, w := 2, 3, 5, 3
	size := n * c * h * w
	parts := [][]float32{randSlice(r, size, 1), randSlice(r, size, 1), randSlice(r, size, 1)}
	var bufs []backend.Buffer
	for _, p := range parts {
		bufs = append(bufs, upload(t, b, p, n, c, h, w))
	}
	want := make([]float32, size)
	for i := range want {
		want[i] = parts[0][i] + parts[1][i] + parts[2][i]
	}
	y, err := b.NewBuffer(n, c, h, w)
	require.NoError(t, err)
	require.NoError(t, b.Add(y, bufs...))
	assertClose(t, download(t, b, y), want, 1e-6, 0, "sum into a new buffer")
	require.NoError(t, b.Add(bufs[0], bufs...))
	assertClose(t, download(t, b, bufs[0]), want, 1e-6, 0, "sum in place")

	// Channel views: channels [1, 3) of a 4-channel buffer gain a 2-channel input.
	big := randSlice(r, n*4*h*w, 1)
	small := randSlice(r, n*2*h*w, 1)
	bigBuf := upload(t, b, big, n, 4, h, w)
	view, err := b.ChannelView(bigBuf, 1, 3)
	require.NoError(t, err)
	require.NoError(t, b.Add(view, view, upload(t, b, small, n, 2, h, w)))
	plane := h * w
	for i := range n {
		for ch := 1; ch < 3; ch++ {
			for j := range plane {
				big[(i*4+ch)*plane+j] += small[(i*2+ch-1)*plane+j]
			}
		}
	}
	assertClose(t, download(t, b, bigBuf), big, 1e-6, 0, "sum into a channel view")
	require.Error(t, b.Add(y, bufs[0], upload(t, b, small, n, 2, h, w)), "shape mismatch")
	require.Error(t, b.Add(y), "no inputs")
}

func testShapeErrors(t *testing.T, b backend.Backend) {
	d := backend.Conv2DDesc{InChannels: 3, OutChannels: 4, KernelH: 3, KernelW: 3, StrideH: 1,
		StrideW: 1, PadH: 1, PadW: 1}
	_, err := b.NewConv2D(d, tensor.Zeros(4, 2, 3, 3), nil)
	require.ErrorContains(t, err, "weight shape")
	op, err := b.NewConv2D(d, tensor.Zeros(4, 3, 3, 3), nil)
	require.NoError(t, err)
	x, err := b.NewBuffer(1, 5, 4, 4)
	require.NoError(t, err)
	y, err := b.NewBuffer(1, 4, 4, 4)
	require.NoError(t, err)
	require.ErrorContains(t, op.Run(x, y), "5 channels")
	x3, err := b.NewBuffer(1, 3, 4, 4)
	require.NoError(t, err)
	y2, err := b.NewBuffer(1, 4, 3, 3)
	require.NoError(t, err)
	require.ErrorContains(t, op.Run(x3, y2), "output shape")
	_, err = b.ChannelView(y, 2, 9)
	require.Error(t, err)
	require.Error(t, b.Upload(y, tensor.Zeros(1, 4, 4, 3)))
}
