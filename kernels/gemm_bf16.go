package kernels

import (
	"math"
	"sync/atomic"

	"github.com/renasgo/renas/tensor"
)

// bf16Tile is the tile of the bf16 micro-kernels: 16 rows of A times 16 columns of B.
const bf16Tile = 16

// bf16GemmImpl is one implementation of the bf16 micro-kernel, with the contract of
// gemmBF16x16x16Generic.
type bf16GemmImpl struct {
	name   string
	kernel func(a, b []uint32, c []float32, kp, ldc int, accumulate bool)
}

var genericBF16Gemm = &bf16GemmImpl{name: "generic", kernel: gemmBF16x16x16Generic}

// activeBF16Gemm is the implementation that SgemmBF16 uses.
var activeBF16Gemm atomic.Pointer[bf16GemmImpl]

func init() {
	activeBF16Gemm.Store(bf16GemmImpls()[0])
}

// bf16GemmImpls returns the bf16 micro-kernels that this CPU and build can run, fastest first.
// The last one is always the pure-Go twin.
func bf16GemmImpls() []*bf16GemmImpl {
	return append(asmBF16GemmImpls(), genericBF16Gemm)
}

// HasBF16 reports whether SgemmBF16 runs on the CPU's bf16 dot-product instructions
// (AVX512_BF16) rather than on its pure-Go twin, which is many times slower.
func HasBF16() bool {
	return activeBF16Gemm.Load() != genericBF16Gemm
}

// SgemmBF16 computes C = A·B (accumulate=false) or C += A·B (accumulate=true) with A and B
// rounded to bfloat16 (nearest, ties to even) and the products summed in float32, as
// VDPBF16PS does. The arguments follow Sgemm, whose rules on C, concurrency and panics apply.
// Subnormal bf16 inputs and float32 partial sums are flushed to zero.
//
// NOTE: no layer of the network calls it yet. It packs A and B on every call with scalar Go
// conversions, which made it half as fast as Sgemm on a 128×1024×1152 product
// (BenchmarkSgemmBF16 on a Zen 4 core), although its micro-kernel does twice the work per
// instruction.
func SgemmBF16(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32,
	ldc int, accumulate bool) {
	if !checkProduct("SgemmBF16", m, n, k, a, lda, b, ldb, c, ldc, accumulate) {
		return
	}

	impl := activeBF16Gemm.Load()
	kc := min(gemmKC, k)
	kp := (kc + 1) / 2
	mPadded := roundUp(m, bf16Tile)
	pa := make([]uint32, mPadded*kp)
	pb := make([]uint32, bf16Tile*kp)
	var tile [bf16Tile * bf16Tile]float32
	for pc := 0; pc < k; pc += gemmKC {
		kc = min(gemmKC, k-pc)
		kp = (kc + 1) / 2
		acc := accumulate || pc > 0
		packABF16(pa, a[pc:], lda, m, kc)
		for jr := 0; jr < n; jr += bf16Tile {
			nc := min(bf16Tile, n-jr)
			packBBF16(pb, b[pc*ldb+jr:], ldb, kc, nc)
			for ir := 0; ir < m; ir += bf16Tile {
				mc := min(bf16Tile, m-ir)
				panel := pa[ir*kp : (ir+bf16Tile)*kp]
				if mc == bf16Tile && nc == bf16Tile {
					impl.kernel(panel, pb, c[ir*ldc+jr:], kp, ldc, acc)
					continue
				}
				impl.kernel(panel, pb, tile[:], kp, bf16Tile, false)
				for i := 0; i < mc; i++ {
					dst := c[(ir+i)*ldc+jr:][:nc]
					src := tile[i*bf16Tile:][:nc]
					if !acc {
						copy(dst, src)
						continue
					}
					for j := range dst {
						dst[j] += src[j]
					}
				}
			}
		}
	}
}

// bf16Pair packs two float32 values rounded to bfloat16 into one word, x in the low half.
func bf16Pair(x, y float32) uint32 {
	return uint32(tensor.Float32ToBFloat16(x)) | uint32(tensor.Float32ToBFloat16(y))<<16
}

// packABF16 packs rows [0, mc) and columns [0, kc) of a (row stride lda) into panels of 16
// rows of bf16 pairs: the pair of columns 2p and 2p+1 of row i goes to word
// (i/16)*kp*16 + p*16 + i%16, with kp = ceil(kc/2). Rows from mc up to a multiple of 16, and
// the column past an odd kc, are zero.
func packABF16(dst []uint32, a []float32, lda, mc, kc int) {
	kp := (kc + 1) / 2
	for ir := 0; ir < roundUp(mc, bf16Tile); ir += bf16Tile {
		panel := dst[ir*kp : (ir+bf16Tile)*kp]
		for i := 0; i < bf16Tile; i++ {
			if ir+i >= mc {
				for p := 0; p < kp; p++ {
					panel[p*bf16Tile+i] = 0
				}
				continue
			}
			row := a[(ir+i)*lda:][:kc]
			for p := 0; p < kc/2; p++ {
				panel[p*bf16Tile+i] = bf16Pair(row[2*p], row[2*p+1])
			}
			if kc%2 == 1 {
				panel[(kp-1)*bf16Tile+i] = bf16Pair(row[kc-1], 0)
			}
		}
	}
}

// packBBF16 packs rows [0, kc) and columns [0, nc) of b (row stride ldb), with nc <= 16, into
// one panel of bf16 pairs: rows 2p and 2p+1 of column j go to word p*16 + j. Columns from nc to
// 16, and the row past an odd kc, are zero.
func packBBF16(dst []uint32, b []float32, ldb, kc, nc int) {
	kp := (kc + 1) / 2
	for p := 0; p < kp; p++ {
		out := dst[p*bf16Tile : (p+1)*bf16Tile]
		even := b[2*p*ldb:][:nc]
		var odd []float32
		if 2*p+1 < kc {
			odd = b[(2*p+1)*ldb:][:nc]
		}
		for j := range out {
			switch {
			case j >= nc:
				out[j] = 0
			case odd == nil:
				out[j] = bf16Pair(even[j], 0)
			default:
				out[j] = bf16Pair(even[j], odd[j])
			}
		}
	}
}

// gemmBF16x16x16Generic is the pure-Go twin of gemmBF16x16x16AVX512BF16, which documents the
// panel layout. Each pair adds its high product, then its low one, and every product of two
// bf16 values is exact in float32, so each addition rounds once, as a fused multiply-add does.
func gemmBF16x16x16Generic(a, b []uint32, c []float32, kp, ldc int, accumulate bool) {
	var acc [bf16Tile][bf16Tile]float32
	for p := 0; p < kp; p++ {
		ap := (*[bf16Tile]uint32)(a[p*bf16Tile : (p+1)*bf16Tile])
		bp := (*[bf16Tile]uint32)(b[p*bf16Tile : (p+1)*bf16Tile])
		var bLo, bHi [bf16Tile]float32
		for j, w := range bp {
			bLo[j], bHi[j] = bf16Low(w), bf16High(w)
		}
		for i, w := range ap {
			aLo, aHi := bf16Low(w), bf16High(w)
			row := &acc[i]
			for j := range row {
				row[j] = flushSubnormal(row[j] + aHi*bHi[j])
				row[j] = flushSubnormal(row[j] + aLo*bLo[j])
			}
		}
	}
	for i := range acc {
		dst := (*[bf16Tile]float32)(c[i*ldc : i*ldc+bf16Tile])
		if accumulate {
			for j := range dst {
				dst[j] += acc[i][j]
			}
		} else {
			*dst = acc[i]
		}
	}
}

// bf16Low and bf16High return the bf16 value in the low or high half of w as a float32, with
// a subnormal value flushed to zero of the same sign.
func bf16Low(w uint32) float32 { return flushSubnormal(math.Float32frombits(w << 16)) }

func bf16High(w uint32) float32 {
	return flushSubnormal(math.Float32frombits(w & 0xffff0000))
}

// flushSubnormal returns x, or a zero of the sign of x when x is subnormal.
func flushSubnormal(x float32) float32 {
	bits := math.Float32bits(x)
	if bits&0x7f800000 == 0 {
		return math.Float32frombits(bits & 0x80000000)
	}
	return x
}
