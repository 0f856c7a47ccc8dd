package tensor

import (
	"math"
	"testing"
)

func TestFloat16RoundTripAllPatterns(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := Float16ToFloat32(h)
		got := Float32ToFloat16(f)
		if math.IsNaN(float64(f)) {
			if got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", h, got)
			}
			continue
		}
		if got != h {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, got)
		}
	}
}

func TestFloat16KnownValues(t *testing.T) {
	cases := []struct {
		h uint16
		f float32
	}{
		{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, 5.960464477539063e-08},
		{0x03ff, 6.097555160522461e-05}, {0x0400, 6.103515625e-05}, {0x3555, 0.333251953125},
	}
	for _, c := range cases {
		if got := Float16ToFloat32(c.h); got != c.f {
			t.Errorf("Float16ToFloat32(%#04x) = %g, want %g", c.h, got, c.f)
		}
	}
	if got := Float16ToFloat32(0x7c00); !math.IsInf(float64(got), 1) {
		t.Errorf("0x7c00 = %g, want +Inf", got)
	}
}

func TestFloat32ToFloat16Rounding(t *testing.T) {
	cases := []struct {
		f    float32
		want uint16
	}{
		{1 + 1.0/2048, 0x3c00},          // tie, rounds to even (down)
		{1 + 3.0/2048, 0x3c02},          // tie, rounds to even (up)
		{1 + 1.0/2048 + 1e-7, 0x3c01},   // just above the tie
		{65520, 0x7c00},                 // rounds up past the largest finite value
		{65519, 0x7bff},                 // stays finite
		{2.98023223876953125e-08, 0},    // half the smallest subnormal ties to zero
		{2.9802326e-08, 0x0001},         // just above it
		{float32(math.Inf(-1)), 0xfc00}, // infinity keeps its sign
		{1e-10, 0},
		{-1e-10, 0x8000},
	}
	for _, c := range cases {
		if got := Float32ToFloat16(c.f); got != c.want {
			t.Errorf("Float32ToFloat16(%g) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
}

func TestBFloat16Rounding(t *testing.T) {
	cases := []struct {
		bits uint32
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81}, // above the tie
		{0x7f7fffff, 0x7f80}, // max float32 rounds to infinity
		{0xff800000, 0xff80}, // -Inf
		{0x00000001, 0x0000}, // smallest subnormal rounds to zero
	}
	for _, c := range cases {
		if got := Float32ToBFloat16(math.Float32frombits(c.bits)); got != c.want {
			t.Errorf("Float32ToBFloat16(%#08x) = %#04x, want %#04x", c.bits, got, c.want)
		}
	}
	nan := Float32ToBFloat16(math.Float32frombits(0x7f800001))
	if !math.IsNaN(float64(BFloat16ToFloat32(nan))) {
		t.Errorf("NaN with a low payload became %#04x", nan)
	}
}
