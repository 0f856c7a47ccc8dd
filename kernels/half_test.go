package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/renasgo/renas/tensor"
)

// TestFloat16ToFloat32sAllPatterns converts all 65,536 binary16 patterns on every path and
// compares them with the scalar tensor.Float16ToFloat32: bit for bit, and NaN for NaN.
func TestFloat16ToFloat32sAllPatterns(t *testing.T) {
	forEachVectorPath(t, func(t *testing.T) {
		src := make([]uint16, 1<<16+3) // 3 more, so that the scalar tail runs too
		for i := range src {
			src[i] = uint16(i)
		}
		dst := make([]float32, len(src))
		Float16ToFloat32s(dst, src)
		for i, h := range src {
			want := tensor.Float16ToFloat32(h)
			if math.IsNaN(float64(want)) {
				if !math.IsNaN(float64(dst[i])) {
					t.Fatalf("%#04x: got %v, want NaN", h, dst[i])
				}
				continue
			}
			if math.Float32bits(dst[i]) != math.Float32bits(want) {
				t.Fatalf("%#04x: got %v (%#08x), want %v", h, dst[i],
					math.Float32bits(dst[i]), want)
			}
		}
	})
}

// TestFloat32ToFloat16s rounds boundary values and random bit patterns on every path and
// compares them with tensor.Float32ToFloat16.
func TestFloat32ToFloat16s(t *testing.T) {
	forEachVectorPath(t, func(t *testing.T) {
		src := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 65504, 65519.996, 65520,
			float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
			6.1035156e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08, 1.0009766, 1.0004883,
			1.0014648}
		rng := rand.New(rand.NewPCG(91, 92))
		for range 100_000 {
			src = append(src, math.Float32frombits(rng.Uint32()))
		}
		dst := make([]uint16, len(src))
		Float32ToFloat16s(dst, src)
		for i, f := range src {
			want := tensor.Float32ToFloat16(f)
			isNaN := func(h uint16) bool { return h&0x7c00 == 0x7c00 && h&0x3ff != 0 }
			if isNaN(want) {
				if !isNaN(dst[i]) {
					t.Fatalf("%v: got %#04x, want a NaN", f, dst[i])
				}
				continue
			}
			if dst[i] != want {
				t.Fatalf("%v (%#08x): got %#04x, want %#04x", f, math.Float32bits(f), dst[i],
					want)
			}
		}
	})
}
