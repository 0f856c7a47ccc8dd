package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/tensor"
)

// TestBF16Convolutions compares convolutions on a bf16 backend with a direct float32 backend.
// The Winograd and 1×1 products move the outputs by the bf16 rounding of their inputs and no
// more. The im2col products stay in float32. Without bf16 kernels, Open fails with ErrNoBF16.
func TestBF16Convolutions(t *testing.T) {
	if !kernels.HasBF16() {
		_, err := NewWithOptions(backend.Options{BF16: true})
		require.ErrorIs(t, err, backend.ErrNoBF16)
		t.Skip("no bf16 kernels on this CPU or build; checked that Open refuses bf16")
	}
	bf, err := NewWithOptions(backend.Options{Threads: 2, BF16: true})
	require.NoError(t, err)
	defer bf.Close()
	assert.Contains(t, bf.Describe(), "with bf16 convolutions")
	ref, err := NewWithOptions(backend.Options{Threads: 2, DirectConv: true})
	require.NoError(t, err)
	defer ref.Close()

	rng := rand.New(rand.NewPCG(41, 42))
	cases := []struct {
		name                string
		n, c, hw, out, k, p int
		// The gains bound the error in units of the typical bf16 error, and 0 means float32.
		// The Winograd transforms multiply the rounding error of their tiles: by 5.5 in RMS
		// and by 74 at worst on this case.
		worstGain, rmsGain float64
	}{
		{"winograd", 3, 16, 10, 24, 3, 1, 100, 8},
		{"1x1", 2, 33, 7, 40, 1, 0, 4, 1},
		{"1x1 one image", 1, 20, 9, 17, 1, 0, 4, 1},
		{"im2col stem", 2, 3, 8, 16, 3, 1, 0, 0},
	}
	for _, tc := range cases {
		d := backend.Conv2DDesc{InChannels: tc.c, OutChannels: tc.out, KernelH: tc.k,
			KernelW: tc.k, StrideH: 1, StrideW: 1, PadH: tc.p, PadW: tc.p,
			Activation: backend.Identity}
		x := normals(rng, tc.n*tc.c*tc.hw*tc.hw)
		w := normals(rng, tc.out*tc.c*tc.k*tc.k)
		wt, err := tensor.FromFloat32(w, tc.out, tc.c, tc.k, tc.k)
		require.NoError(t, err)
		var ys [2][]float32
		for i, b := range []*Backend{bf, ref} {
			op, err := b.NewConv2D(d, wt, nil)
			require.NoError(t, err)
			xb := uploaded(t, b, x, tc.n, tc.c, tc.hw, tc.hw)
			yb := uploaded(t, b, nil, tc.n, tc.out, tc.hw, tc.hw)
			require.NoError(t, op.Run(xb, yb))
			ys[i] = downloaded(t, b, yb)
		}
		// Each output sums c·k² products of two unit normals, so its rounding error from bf16
		// inputs (relative 2^-8 per product at most) is typically 2^-8·sqrt(c·k²).
		typical := math.Ldexp(math.Sqrt(float64(tc.c*tc.k*tc.k)), -8)
		var worst, squares float64
		for i, got := range ys[0] {
			diff := float64(got - ys[1][i])
			worst = max(worst, math.Abs(diff))
			squares += diff * diff
		}
		rms := math.Sqrt(squares / float64(len(ys[0])))
		label := fmt.Sprintf("%s: difference from float32", tc.name)
		if tc.worstGain == 0 {
			assert.Less(t, worst, 1e-4, label)
			continue
		}
		assert.Greater(t, worst, 0.0, label)
		assert.Less(t, worst, tc.worstGain*typical, label+", largest")
		assert.Less(t, rms, tc.rmsGain*typical, label+", RMS")
	}
}

func normals(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// TestBF16TrainingConvolutions runs the training convolutions of a bf16 backend beside a
// float32 one. The forward and data-gradient products run in bf16: within 0.5 % (relative
// L2 error) for a 1×1 convolution and 5 % for a Winograd 3×3 one, whose transforms multiply
// the rounding error. The weight gradient stays float32 and matches to the bit.
func TestBF16TrainingConvolutions(t *testing.T) {
	if !kernels.HasBF16() {
		t.Skip("no bf16 kernels on this CPU or build")
	}
	bf, err := NewWithOptions(backend.Options{Threads: 2, BF16: true})
	require.NoError(t, err)
	defer bf.Close()
	ref, err := NewWithOptions(backend.Options{Threads: 2})
	require.NoError(t, err)
	defer ref.Close()

	rng := rand.New(rand.NewPCG(43, 44))
	const n, in, out, side = 4, 16, 24, 8
	for _, tc := range []struct {
		k     int
		bound float64
	}{{1, 5e-3}, {3, 5e-2}} {
		d := backend.Conv2DDesc{InChannels: in, OutChannels: out, KernelH: tc.k, KernelW: tc.k,
			StrideH: 1, StrideW: 1, PadH: tc.k / 2, PadW: tc.k / 2}
		x := normals(rng, n*in*side*side)
		w := normals(rng, out*in*tc.k*tc.k)
		dy := normals(rng, n*out*side*side)
		var results [2][3][]float32 // y, dx and dw of each backend
		for i, b := range []*Backend{bf, ref} {
			xb := uploaded(t, b, x, n, in, side, side)
			wb := uploaded(t, b, w, out, in, tc.k, tc.k)
			dyb := uploaded(t, b, dy, n, out, side, side)
			yb := uploaded(t, b, nil, n, out, side, side)
			dxb := uploaded(t, b, nil, n, in, side, side)
			dwb := uploaded(t, b, nil, out, in, tc.k, tc.k)
			require.NoError(t, b.Conv2DForward(d, xb, wb, yb))
			require.NoError(t, b.Conv2DBackwardData(d, wb, dyb, dxb, false))
			require.NoError(t, b.Conv2DBackwardFilter(d, xb, dyb, dwb))
			for j, buf := range []backend.Buffer{yb, dxb, dwb} {
				results[i][j] = downloaded(t, b, buf)
			}
		}
		for j, name := range []string{"y", "dx"} {
			e := relativeL2(results[0][j], results[1][j])
			assert.Greater(t, e, 0.0, "%d×%d %s", tc.k, tc.k, name)
			assert.Less(t, e, tc.bound, "%d×%d %s", tc.k, tc.k, name)
		}
		assert.Equal(t, results[1][2], results[0][2], "%d×%d dw", tc.k, tc.k)
	}
}

// uploaded returns a buffer of the given shape holding data, or zeros when data is nil.
func uploaded(t *testing.T, b *Backend, data []float32, shape ...int) backend.Buffer {
	t.Helper()
	buf, err := b.NewBuffer(shape[0], shape[1], shape[2], shape[3])
	require.NoError(t, err)
	if data != nil {
		x, err := tensor.FromFloat32(data, shape...)
		require.NoError(t, err)
		require.NoError(t, b.Upload(buf, x))
	}
	return buf
}

func downloaded(t *testing.T, b *Backend, buf backend.Buffer) []float32 {
	t.Helper()
	size, err := buf.Shape().NumElements()
	require.NoError(t, err)
	x := tensor.Zeros(size)
	require.NoError(t, b.Download(x, buf))
	return x.Float32s()
}

// relativeL2 returns ‖got − want‖ / ‖want‖.
func relativeL2(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		d := float64(got[i] - want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(num / den)
}
