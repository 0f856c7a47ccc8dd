package kernels

import (
	"math"
	"sync"
	"sync/atomic"
)

// bf16Tile is the tile of the bf16 micro-kernels: 16 rows of A times 16 columns of B.
const bf16Tile = 16

// bf16GemmImpl is one implementation of the bf16 micro-kernel, with the contract of
// gemmBF16x16x16Generic, and of the B-panel packing, with the contract of
// packBF16PairsGeneric.
type bf16GemmImpl struct {
	name      string
	kernel    func(a, b []uint32, c []float32, kp, ldc int, accumulate bool)
	packPairs func(dst []uint32, b []float32, ldb, pairs int)
}

var genericBF16Gemm = &bf16GemmImpl{name: "generic", kernel: gemmBF16x16x16Generic,
	packPairs: packBF16PairsGeneric}

// activeBF16Gemm is the implementation that the bf16 products use.
var activeBF16Gemm atomic.Pointer[bf16GemmImpl]

func init() {
	activeBF16Gemm.Store(bf16GemmImpls()[0])
}

// bf16GemmImpls returns the bf16 micro-kernels that this CPU and build can run, fastest first.
// The last one is always the pure-Go twin.
func bf16GemmImpls() []*bf16GemmImpl {
	return append(asmBF16GemmImpls(), genericBF16Gemm)
}

// HasBF16 reports whether the bf16 products run on the CPU's bf16 instructions (AVX512_BF16)
// rather than on their pure-Go twins, which are many times slower than the float32 ones.
func HasBF16() bool {
	return activeBF16Gemm.Load() != genericBF16Gemm
}

// PackedABF16 is an m×k matrix rounded to bfloat16 and packed once by PackABF16 into the
// panel layout of the bf16 micro-kernel, for products that reuse the same left operand, such
// as convolution weights. It is read-only after PackABF16 and can be shared by concurrent
// SgemmBF16Packed calls.
type PackedABF16 struct {
	m, k int

	// mPadded is m rounded up to a multiple of 16.
	mPadded int

	// data contains one block per gemmKC columns of A. The block of columns [pc, pc+kc) starts
	// at word pc/2*mPadded and is mPadded/16 panels in the layout of packABF16.
	data []uint32
}

// Rows returns m, the number of rows of the packed matrix.
func (p *PackedABF16) Rows() int { return p.m }

// Cols returns k, the number of columns of the packed matrix.
func (p *PackedABF16) Cols() int { return p.k }

// PackABF16 rounds the m×k row-major matrix a with row stride lda to bfloat16 (as bf16Round
// does) and packs it for SgemmBF16Packed. It does not keep a reference to a.
func PackABF16(m, k int, a []float32, lda int) *PackedABF16 {
	checkDims("PackABF16", m, 0, k)
	checkMatrix("PackABF16", "a", "lda", a, m, k, lda)
	mPadded := roundUp(m, bf16Tile)
	p := &PackedABF16{m: m, k: k, mPadded: mPadded, data: make([]uint32, mPadded*((k+1)/2))}
	for pc := 0; pc < k; pc += gemmKC {
		packABF16(p.data[pc/2*mPadded:], a[pc:], lda, m, min(gemmKC, k-pc))
	}
	return p
}

// SgemmBF16 computes C = A·B (accumulate=false) or C += A·B (accumulate=true) with A and B
// rounded to bfloat16 (nearest, ties to even) and the products summed in float32, as
// VDPBF16PS does. The arguments follow Sgemm, whose rules on C, concurrency and panics apply.
// Subnormal float32 and bf16 inputs and float32 partial sums are flushed to zero.
//
// It packs A on every call; SgemmBF16Packed with a PackedABF16 packs it once.
func SgemmBF16(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32,
	ldc int, accumulate bool) {
	if !checkProduct("SgemmBF16", m, n, k, a, lda, b, ldb, c, ldc, accumulate) {
		return
	}
	s := bf16ScratchPool.Get().(*bf16Scratch)
	defer bf16ScratchPool.Put(s)
	sgemmBF16Packed(PackABF16(m, k, a, lda), n, b, ldb, bf16Tile, c, ldc, accumulate, s)
}

// SgemmBF16Packed computes C = P·B (accumulate=false) or C += P·B (accumulate=true) in the
// arithmetic of SgemmBF16, with P packed by PackABF16.
//
// P is m×k with m = p.Rows() and k = p.Cols(), B is k×n with row stride ldb, and C is m×n
// with row stride ldc. The rules on C, concurrency and panics are those of Sgemm.
func SgemmBF16Packed(p *PackedABF16, n int, b []float32, ldb int, c []float32, ldc int,
	accumulate bool) {
	if p == nil {
		panic("kernels: SgemmBF16Packed: p is nil, want a matrix from PackABF16")
	}
	m, k := p.m, p.k
	checkDims("SgemmBF16Packed", m, n, k)
	checkMatrix("SgemmBF16Packed", "b", "ldb", b, k, n, ldb)
	checkMatrix("SgemmBF16Packed", "c", "ldc", c, m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !accumulate {
			clearMatrix(c, m, n, ldc)
		}
		return
	}
	s := bf16ScratchPool.Get().(*bf16Scratch)
	defer bf16ScratchPool.Put(s)
	sgemmBF16Packed(p, n, b, ldb, bf16Tile, c, ldc, accumulate, s)
}

// bf16Scratch is the workspace of one bf16 product: a packed B panel and an edge tile.
type bf16Scratch struct {
	b    []uint32
	tile [bf16Tile * bf16Tile]float32
}

var bf16ScratchPool = sync.Pool{New: func() any { return new(bf16Scratch) }}

// sgemmBF16Packed is SgemmBF16Packed for checked arguments with m, n, k > 0. It reads
// columns [jr, jr+16) of B as the 16 columns at b[jr/16*panelStride:] with row stride ldb.
// A row-major B has a panel stride of 16, and the Winograd products pass their own panels.
func sgemmBF16Packed(p *PackedABF16, n int, b []float32, ldb, panelStride int, c []float32,
	ldc int, accumulate bool, s *bf16Scratch) {
	impl := activeBF16Gemm.Load()
	m, k := p.m, p.k
	if s.b == nil {
		// The largest panel, so that a workspace from the pool never grows.
		s.b = make([]uint32, bf16Tile*gemmKC/2)
	}
	for pc := 0; pc < k; pc += gemmKC {
		kc := min(gemmKC, k-pc)
		kp := (kc + 1) / 2
		acc := accumulate || pc > 0
		block := p.data[pc/2*p.mPadded:]
		pb := s.b[:bf16Tile*kp]
		for jr := 0; jr < n; jr += bf16Tile {
			nc := min(bf16Tile, n-jr)
			packBBF16(impl, pb, b[jr/bf16Tile*panelStride+pc*ldb:], ldb, kc, nc)
			for ir := 0; ir < m; ir += bf16Tile {
				mc := min(bf16Tile, m-ir)
				panel := block[ir*kp : (ir+bf16Tile)*kp]
				if mc == bf16Tile && nc == bf16Tile {
					impl.kernel(panel, pb, c[ir*ldc+jr:], kp, ldc, acc)
					continue
				}
				impl.kernel(panel, pb, s.tile[:], kp, bf16Tile, false)
				for i := 0; i < mc; i++ {
					dst := c[(ir+i)*ldc+jr:][:nc]
					src := s.tile[i*bf16Tile:][:nc]
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

// bf16Round returns x rounded to bfloat16 as VCVTNE2PS2BF16 rounds it: to nearest, ties to
// even, with a subnormal x flushed to a zero of its sign and a NaN made quiet.
func bf16Round(x float32) uint16 {
	bits := math.Float32bits(x)
	switch {
	case bits&0x7f800000 == 0:
		return uint16(bits>>16) & 0x8000
	case bits&0x7fffffff > 0x7f800000:
		return uint16(bits>>16) | 0x40
	}
	return uint16((bits + 0x7fff + bits>>16&1) >> 16)
}

// bf16Pair packs two float32 values rounded by bf16Round into one word, x in the low half.
func bf16Pair(x, y float32) uint32 {
	return uint32(bf16Round(x)) | uint32(bf16Round(y))<<16
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
// 16, and the row past an odd kc, are zero. Whole pairs of 16 columns go through
// impl.packPairs.
func packBBF16(impl *bf16GemmImpl, dst []uint32, b []float32, ldb, kc, nc int) {
	kp := (kc + 1) / 2
	p := 0
	if nc == bf16Tile {
		p = kc / 2
		impl.packPairs(dst, b, ldb, p)
	}
	for ; p < kp; p++ {
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

// packBF16PairsGeneric is the pure-Go twin of packBF16PairsAVX512BF16, which documents it.
func packBF16PairsGeneric(dst []uint32, b []float32, ldb, pairs int) {
	for p := range pairs {
		even := b[2*p*ldb:][:bf16Tile]
		odd := b[(2*p+1)*ldb:][:bf16Tile]
		out := dst[p*bf16Tile:][:bf16Tile]
		for j := range out {
			out[j] = bf16Pair(even[j], odd[j])
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
