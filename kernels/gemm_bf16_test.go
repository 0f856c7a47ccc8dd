package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/tensor"
)

// wordSentinel fills the guard bands of packed bf16 panels: its halves are bf16 NaNs.
const wordSentinel = 0x7fc17fc1

// forEachBF16Path runs f once per bf16 micro-kernel as a subtest, with that kernel active. The
// assembly kernel is reported as skipped where the CPU or build cannot run it.
func forEachBF16Path(t *testing.T, f func(t *testing.T, impl *bf16GemmImpl)) {
	t.Helper()
	available := map[string]*bf16GemmImpl{}
	for _, impl := range bf16GemmImpls() {
		available[impl.name] = impl
	}
	for _, name := range []string{"avx512bf16", "generic"} {
		t.Run(name, func(t *testing.T) {
			impl := available[name]
			if impl == nil {
				t.Skipf("path %s is not available: it needs amd64 with AVX-512 and "+
					"AVX512_BF16 and a build without the noasm tag", name)
			}
			previous := activeBF16Gemm.Swap(impl)
			defer activeBF16Gemm.Store(previous)
			f(t, impl)
		})
	}
}

// roundBF16 returns x rounded to the nearest bfloat16 value, as a float32.
func roundBF16(x float32) float32 {
	return tensor.BFloat16ToFloat32(tensor.Float32ToBFloat16(x))
}

// guardedWords returns n random bf16 pairs with guardLen sentinel words on each side, and the
// slice of the pairs.
func guardedWords(rng *rand.Rand, n int) (buf, words []uint32) {
	buf = make([]uint32, n+2*guardLen)
	for i := range buf {
		buf[i] = wordSentinel
	}
	words = buf[guardLen : guardLen+n]
	for i := range words {
		words[i] = bf16Pair(rng.Float32()*2-1, rng.Float32()*2-1)
	}
	return buf, words
}

// checkGuardWords fails the test if a sentinel word around a packed panel has changed.
func checkGuardWords(t *testing.T, label string, buf []uint32) {
	t.Helper()
	n := len(buf) - 2*guardLen
	for i := 0; i < guardLen; i++ {
		require.Equal(t, uint32(wordSentinel), buf[i], "%s: word %d before the panel", label, i)
		require.Equal(t, uint32(wordSentinel), buf[guardLen+n+i],
			"%s: word %d after the panel", label, i)
	}
}

// TestBF16MicroKernel runs each bf16 micro-kernel on packed panels and compares it with a
// float64 sum of the same bf16 products and, for the assembly kernel, with its pure-Go twin,
// which must agree to the bit.
func TestBF16MicroKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const tile = bf16Tile
	forEachBF16Path(t, func(t *testing.T, impl *bf16GemmImpl) {
		for _, kp := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 128, 129, 500} {
			for _, ldc := range []int{tile, tile + 1, 23} {
				for _, accumulate := range []bool{false, true} {
					label := fmt.Sprintf("kp=%d ldc=%d accumulate=%v", kp, ldc, accumulate)
					aBuf, a := guardedWords(rng, tile*kp)
					bBuf, b := guardedWords(rng, tile*kp)
					var fill func() float32
					if accumulate {
						fill = uniform(rng)
					}
					c := newGuarded(tile, tile, ldc, fill)
					cTwin := newGuarded(tile, tile, ldc, nil)
					copy(cTwin.buf, c.initialBufValues)

					impl.kernel(a, b, c.data(), kp, ldc, accumulate)
					checkGuardWords(t, label+" A panel", aBuf)
					checkGuardWords(t, label+" B panel", bBuf)
					c.checkUnchanged(t, "C outside the tile", true, label)

					want := make([]float64, tile*tile)
					mag := make([]float64, tile*tile)
					for i := 0; i < tile; i++ {
						for j := 0; j < tile; j++ {
							if accumulate {
								want[i*tile+j] = float64(c.initial(i, j))
								mag[i*tile+j] = math.Abs(want[i*tile+j])
							}
							for p := 0; p < kp; p++ {
								wa, wb := a[p*tile+i], b[p*tile+j]
								term := float64(bf16Low(wa))*float64(bf16Low(wb)) +
									float64(bf16High(wa))*float64(bf16High(wb))
								want[i*tile+j] += term
								mag[i*tile+j] += math.Abs(term)
							}
						}
					}
					checkAgainst(t, label+" vs float64 reference", c, want, mag, 2*kp, 1)

					if impl == genericBF16Gemm {
						continue
					}
					gemmBF16x16x16Generic(a, b, cTwin.data(), kp, ldc, accumulate)
					for i := 0; i < tile; i++ {
						for j := 0; j < tile; j++ {
							require.Equal(t, math.Float32bits(cTwin.at(i, j)),
								math.Float32bits(c.at(i, j)),
								"%s: C[%d,%d] = %v, pure-Go twin %v", label, i, j,
								c.at(i, j), cTwin.at(i, j))
						}
					}
				}
			}
		}
	})
}

// TestBF16MicroKernelSpecialValues checks that every path flushes subnormal inputs and
// partial sums to zero and propagates infinities and NaNs.
func TestBF16MicroKernelSpecialValues(t *testing.T) {
	const tile = bf16Tile
	cases := []struct {
		name   string
		a, b   [2]float32 // the pair of row 0 of A and of column 0 of B
		want00 float32
	}{
		{"subnormal input", [2]float32{1e-39, 1}, [2]float32{1, 1}, 1},
		{"subnormal sum", [2]float32{1e-20, 0}, [2]float32{1e-19, 0}, 0},
		{"infinity", [2]float32{float32(math.Inf(1)), 0}, [2]float32{2, 0},
			float32(math.Inf(1))},
		{"infinity times zero", [2]float32{float32(math.Inf(1)), 1}, [2]float32{0, 1},
			float32(math.NaN())},
	}
	forEachBF16Path(t, func(t *testing.T, impl *bf16GemmImpl) {
		for _, tc := range cases {
			a := make([]uint32, tile)
			b := make([]uint32, tile)
			a[0] = bf16Pair(tc.a[0], tc.a[1])
			b[0] = bf16Pair(tc.b[0], tc.b[1])
			c := make([]float32, tile*tile)
			impl.kernel(a, b, c, 1, tile, false)
			if math.IsNaN(float64(tc.want00)) {
				assert.True(t, math.IsNaN(float64(c[0])), "%s: C[0,0] = %v, want NaN",
					tc.name, c[0])
			} else {
				assert.Equal(t, math.Float32bits(tc.want00), math.Float32bits(c[0]),
					"%s: C[0,0] = %v, want %v", tc.name, c[0], tc.want00)
			}
			// Row 1 of A is zero and column 0 of B finite.
			assert.Equal(t, float32(0), c[tile], "%s: C[1,0]", tc.name)
		}
	})
}

// TestSgemmBF16 checks SgemmBF16 on odd shapes, k blocks and edge tiles against a float64
// product of the bf16-rounded operands, with guard values around C.
func TestSgemmBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	shapes := []gemmCase{{1, 1, 1}, {3, 5, 7}, {16, 16, 2}, {17, 33, 31},
		{40, 19, gemmKC + 3}, {33, 47, 2*gemmKC + 1}}
	forEachBF16Path(t, func(t *testing.T, impl *bf16GemmImpl) {
		for _, s := range shapes {
			for _, accumulate := range []bool{false, true} {
				label := fmt.Sprintf("m=%d n=%d k=%d accumulate=%v", s.m, s.n, s.k, accumulate)
				a := newGuarded(s.m, s.k, s.k+2, uniform(rng))
				b := newGuarded(s.k, s.n, s.n+1, uniform(rng))
				var fill func() float32
				if accumulate {
					fill = uniform(rng)
				}
				c := newGuarded(s.m, s.n, s.n+3, fill)
				aRounded := newGuarded(s.m, s.k, s.k+2, nil)
				bRounded := newGuarded(s.k, s.n, s.n+1, nil)
				for i := range a.buf {
					aRounded.buf[i] = roundBF16(a.buf[i])
				}
				for i := range b.buf {
					bRounded.buf[i] = roundBF16(b.buf[i])
				}
				ref, mag := refGemm(s.m, s.n, s.k, aRounded, bRounded, c, accumulate)

				SgemmBF16(s.m, s.n, s.k, a.data(), a.ld, b.data(), b.ld, c.data(), c.ld,
					accumulate)
				a.checkUnchanged(t, "A", false, label)
				b.checkUnchanged(t, "B", false, label)
				c.checkUnchanged(t, "C outside the product", true, label)
				checkAgainst(t, label, c, ref, mag, s.k, 1)
			}
		}
	})
}

// TestBF16Round checks the rounding of the bf16 packing on boundary values: ties go to the
// even neighbour, overflow goes to infinity, subnormals flush to zero and NaNs become quiet.
// Normal values round as tensor.Float32ToBFloat16 does.
func TestBF16Round(t *testing.T) {
	cases := []struct {
		bits uint32
		want uint16
	}{
		{0x3f808000, 0x3f80}, // 1 + 2^-8: a tie, to the even 1
		{0x3f818000, 0x3f82}, // 1 + 3·2^-8: a tie, to the even 1 + 2^-6
		{0x3f808001, 0x3f81}, // just above the tie
		{0x3f807fff, 0x3f80}, // just below it
		{0x7f7fffff, 0x7f80}, // the largest float32 rounds up to infinity
		{0x7f800000, 0x7f80}, // +Inf
		{0xff800000, 0xff80}, // -Inf
		{0x00000001, 0x0000}, // the smallest subnormal
		{0x807fffff, 0x8000}, // the largest negative subnormal flushes to -0
		{0x00800000, 0x0080}, // the smallest normal
		{0x7f800001, 0x7fc0}, // a signalling NaN becomes quiet
		{0xffc12345, 0xffc1}, // a quiet NaN keeps its sign and top payload bits
	}
	for _, tc := range cases {
		got := bf16Round(math.Float32frombits(tc.bits))
		assert.Equal(t, tc.want, got, "bf16Round(%#08x)", tc.bits)
	}
	rng := rand.New(rand.NewPCG(27, 28))
	for range 100000 {
		x := math.Float32frombits(rng.Uint32())
		if bits := math.Float32bits(x); bits&0x7f800000 == 0 || x != x {
			continue
		}
		require.Equal(t, tensor.Float32ToBFloat16(x), bf16Round(x), "bf16Round(%v)", x)
	}
}

// TestPackBF16Pairs runs each B-panel packing against its pure-Go twin, to the bit, on random
// bit patterns that include subnormals, infinities and NaNs, with guard words around the
// panel and sentinels between the rows of b.
func TestPackBF16Pairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	special := []uint32{0x00000001, 0x807fffff, 0x00800000, 0x3f808000, 0x3f818000,
		0x7f7fffff, 0x7f800000, 0xff800000, 0x7f800001, 0xffc12345}
	forEachBF16Path(t, func(t *testing.T, impl *bf16GemmImpl) {
		for _, pairs := range []int{0, 1, 2, 3, 7, 64, 129} {
			for _, ldb := range []int{bf16Tile, bf16Tile + 1, 37} {
				label := fmt.Sprintf("pairs=%d ldb=%d", pairs, ldb)
				rows := max(2*pairs, 1)
				b := newGuarded(rows, bf16Tile, ldb, func() float32 {
					if rng.IntN(8) == 0 {
						return math.Float32frombits(special[rng.IntN(len(special))])
					}
					return math.Float32frombits(rng.Uint32())
				})
				buf, dst := guardedWords(rng, bf16Tile*pairs)
				impl.packPairs(dst, b.data(), ldb, pairs)
				checkGuardWords(t, label, buf)
				b.checkUnchanged(t, "b", false, label)
				for p := range pairs {
					for j := range bf16Tile {
						want := bf16Pair(b.at(2*p, j), b.at(2*p+1, j))
						require.Equal(t, want, dst[p*bf16Tile+j], "%s: word %d,%d of %#08x "+
							"and %#08x", label, p, j, math.Float32bits(b.at(2*p, j)),
							math.Float32bits(b.at(2*p+1, j)))
					}
				}
			}
		}
	})
}

// TestSgemmBF16Packed checks that a product with a packed A gives, to the bit, what SgemmBF16
// gives on the same operands, including k blocks and edge tiles, and that P can be reused.
func TestSgemmBF16Packed(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	shapes := []gemmCase{{1, 1, 1}, {16, 16, 2}, {17, 33, 31}, {40, 19, gemmKC + 3},
		{33, 47, 2*gemmKC + 1}, {5, 3, 0}}
	forEachBF16Path(t, func(t *testing.T, impl *bf16GemmImpl) {
		for _, s := range shapes {
			a := newGuarded(s.m, s.k, s.k+2, uniform(rng))
			p := PackABF16(s.m, s.k, a.data(), a.ld)
			a.checkUnchanged(t, "A", false, "PackABF16")
			for _, accumulate := range []bool{false, true, false} {
				label := fmt.Sprintf("m=%d n=%d k=%d accumulate=%v", s.m, s.n, s.k, accumulate)
				b := newGuarded(s.k, s.n, s.n+1, uniform(rng))
				var fill func() float32
				if accumulate {
					fill = uniform(rng)
				}
				c := newGuarded(s.m, s.n, s.n+3, fill)
				want := newGuarded(s.m, s.n, s.n+3, nil)
				copy(want.buf, c.initialBufValues)
				SgemmBF16(s.m, s.n, s.k, a.data(), a.ld, b.data(), b.ld, want.data(), want.ld,
					accumulate)
				SgemmBF16Packed(p, s.n, b.data(), b.ld, c.data(), c.ld, accumulate)
				b.checkUnchanged(t, "B", false, label)
				c.checkUnchanged(t, "C outside the product", true, label)
				for i := range s.m {
					for j := range s.n {
						require.Equal(t, math.Float32bits(want.at(i, j)),
							math.Float32bits(c.at(i, j)), "%s: C[%d,%d]", label, i, j)
					}
				}
			}
		}
	})
}

func TestSgemmBF16Panics(t *testing.T) {
	a := make([]float32, 6)
	assert.PanicsWithValue(t,
		"kernels: SgemmBF16: len(a) = 5 is too short for 2×3 with lda = 3 (want >= 6)",
		func() { SgemmBF16(2, 2, 3, a[:5], 3, a, 2, a, 2, false) })
	p := PackABF16(2, 3, a, 3)
	assert.PanicsWithValue(t,
		"kernels: SgemmBF16Packed: len(b) = 5 is too short for 3×2 with ldb = 2 (want >= 6)",
		func() { SgemmBF16Packed(p, 2, a[:5], 2, a, 2, false) })
	assert.PanicsWithValue(t,
		"kernels: SgemmBF16Packed: p is nil, want a matrix from PackABF16",
		func() { SgemmBF16Packed(nil, 2, a, 2, a, 2, false) })
}

// BenchmarkSgemmBF16 measures SgemmBF16 beside Sgemm on the 3×3 convolution GEMM of 128
// channels at 32×32, on one goroutine.
func BenchmarkSgemmBF16(b *testing.B) {
	const m, n, k = 128, 1024, 1152
	rng := rand.New(rand.NewPCG(25, 26))
	a := make([]float32, m*k)
	bm := make([]float32, k*n)
	c := make([]float32, m*n)
	for i := range a {
		a[i] = rng.Float32()
	}
	for i := range bm {
		bm[i] = rng.Float32()
	}
	b.Run("bf16", func(b *testing.B) {
		for range b.N {
			SgemmBF16(m, n, k, a, k, bm, n, c, n, false)
		}
		reportGemmRate(b, m, n, k)
	})
	b.Run("f32", func(b *testing.B) {
		for range b.N {
			Sgemm(m, n, k, a, k, bm, n, c, n, false)
		}
		reportGemmRate(b, m, n, k)
	})
}
