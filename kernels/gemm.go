package kernels

import (
	"fmt"
	"sync"
)

// Cache blocking of the packed-panel GEMM. The mc×kc block of packed A (144 KiB at most) stays
// in L2. The micro-kernel runs each kc×nr micro-panel of B (16 KiB at kc=256, nr=16) against
// every A panel of the block. A row-major B is read in place, 16 columns of each row. The
// rows of a panel of NCHW planes are often 4 KiB apart and share an L1 set, so they come from
// L2. Where L2 holds them, that costs less than a packing pass over B, which took 10 % of a
// width-128 forward pass. Where it does not, packAliased has the panel packed.
// B sources that are not row-major, such as im2col, pack one micro-panel at a time.
//
// NOTE: these sizes were chosen for the 32 KiB L1 and 512 KiB L2 per core of AMD Zen 3. On a
// loaded 2-core Zen 3 VM, BenchmarkSgemmPacked showed no clear winner among KC = 192, 256, 288
// and 384, and the network shapes reached about 50-70 % of the probe's FMA peak, short of 80 %.
// gemmMC must stay a multiple of every kernel's mr.
const (
	gemmKC = 256
	gemmMC = 144
)

// gemmScratch is the packing workspace of one product. Products take it from gemmScratchPool,
// so a goroutine that calls Sgemm repeatedly allocates only when a larger block is needed.
type gemmScratch struct {
	a    []float32 // packed block of A, up to gemmMC×gemmKC
	b    []float32 // one packed micro-panel of B, up to gemmKC×nr
	tile []float32 // one mr×nr edge tile

	// The B operand of the product in progress. Keeping it here, behind a pointer, lets it
	// pass as a bSource without a heap allocation.
	dense  denseB
	im2col im2colB
	panels panelB
}

var gemmScratchPool = sync.Pool{New: func() any { return new(gemmScratch) }}

// release drops the references to the caller's matrices and returns s to the pool.
func (s *gemmScratch) release() {
	s.dense, s.im2col, s.panels = denseB{}, im2colB{}, panelB{}
	gemmScratchPool.Put(s)
}

// grow returns buf resized to n elements, reallocating only when its capacity is too small.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// PackedA is an m×k matrix packed once by PackA into the panel layout of the GEMM
// micro-kernel, for products that reuse the same left operand, such as convolution weights.
// It is read-only after PackA and can be shared by concurrent SgemmPacked calls.
type PackedA struct {
	m, k int

	// mr is the panel height that the matrix was packed for.
	mr int

	// mPadded is m rounded up to a multiple of mr.
	mPadded int

	// data contains one block per gemmKC columns of A. The block of columns [pc, pc+kc)
	// starts at pc*mPadded and is mPadded/mr panels of kc×mr floats. Rows past m are zero.
	data []float32
}

// Rows returns m, the number of rows of the packed matrix.
func (p *PackedA) Rows() int { return p.m }

// Cols returns k, the number of columns of the packed matrix.
func (p *PackedA) Cols() int { return p.k }

// index returns the place in p.data of element (i, j) of the packed matrix.
func (p *PackedA) index(i, j int) int {
	pc := j / gemmKC * gemmKC
	kc := min(gemmKC, p.k-pc)
	ir := i / p.mr * p.mr
	return pc*p.mPadded + ir*kc + (j-pc)*p.mr + i - ir
}

// PackA packs the m×k row-major matrix a with row stride lda for SgemmPacked. It allocates the
// packed copy once and does not keep a reference to a.
func PackA(m, k int, a []float32, lda int) *PackedA {
	checkDims("PackA", m, 0, k)
	checkMatrix("PackA", "a", "lda", a, m, k, lda)

	impl := activeGemm.Load()
	mPadded := roundUp(m, impl.mr)
	p := &PackedA{m: m, k: k, mr: impl.mr, mPadded: mPadded, data: make([]float32, mPadded*k)}
	for pc := 0; pc < k; pc += gemmKC {
		kc := min(gemmKC, k-pc)
		packA(p.data[pc*mPadded:], a[pc:], lda, m, kc, impl.mr)
	}
	return p
}

// Sgemm computes C = A·B (accumulate=false) or C += A·B (accumulate=true); all row-major.
// A is m×k with row stride lda, B is k×n with stride ldb, C is m×n with stride ldc.
//
// Only c[i*ldc+j] with 0 <= i < m and 0 <= j < n is read or written, and with accumulate=false
// C is not read. C must not overlap A or B. Sgemm runs on the calling goroutine and is safe to
// call concurrently on disjoint C. It panics if a dimension is negative, a stride is smaller
// than its row width, or a slice is too short for its dimensions and stride.
func Sgemm(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int,
	accumulate bool) {
	if !checkProduct("Sgemm", m, n, k, a, lda, b, ldb, c, ldc, accumulate) {
		return
	}

	s := gemmScratchPool.Get().(*gemmScratch)
	defer s.release()
	s.dense = denseB{b, ldb}
	sgemm(m, n, k, a, lda, &s.dense, c, ldc, accumulate, s)
}

// checkProduct panics on invalid arguments of a row-major product C (+)= A·B, as Sgemm
// documents, and finishes the products that need no arithmetic: with m or n zero nothing is
// written, and with k zero C is cleared unless accumulate is set. It reports whether the
// caller still has to compute the product.
func checkProduct(op string, m, n, k int, a []float32, lda int, b []float32, ldb int,
	c []float32, ldc int, accumulate bool) bool {
	checkDims(op, m, n, k)
	checkMatrix(op, "a", "lda", a, m, k, lda)
	checkMatrix(op, "b", "ldb", b, k, n, ldb)
	checkMatrix(op, "c", "ldc", c, m, n, ldc)
	if m == 0 || n == 0 {
		return false
	}
	if k == 0 {
		if !accumulate {
			clearMatrix(c, m, n, ldc)
		}
		return false
	}
	return true
}

// sgemm is Sgemm with B read through src, for arguments already checked and m, n, k > 0.
func sgemm(m, n, k int, a []float32, lda int, src bSource, c []float32, ldc int,
	accumulate bool, s *gemmScratch) {
	impl := activeGemm.Load()
	mc := min(gemmMC, roundUp(m, impl.mr))
	s.a = grow(s.a, mc*min(gemmKC, k))
	s.b = grow(s.b, impl.nr*min(gemmKC, k))
	s.tile = grow(s.tile, impl.mr*impl.nr)

	for pc := 0; pc < k; pc += gemmKC {
		kc := min(gemmKC, k-pc)
		// Every K block after the first adds to the partial sums of the ones before.
		acc := accumulate || pc > 0
		for ic := 0; ic < m; ic += gemmMC {
			mcur := min(gemmMC, m-ic)
			packA(s.a, a[ic*lda+pc:], lda, mcur, kc, impl.mr)
			macroKernel(impl, mcur, n, pc, kc, s.a, src, c[ic*ldc:], ldc, acc, s)
		}
	}
}

// SgemmPacked computes C = P·B or C += P·B with P packed by PackA.
//
// P is m×k with m = p.Rows() and k = p.Cols(), B is k×n with row stride ldb, and C is m×n
// with row stride ldc. The rules on C, concurrency and panics are those of Sgemm.
func SgemmPacked(p *PackedA, n int, b []float32, ldb int, c []float32, ldc int,
	accumulate bool) {
	if p == nil {
		panic("kernels: SgemmPacked: p is nil, want a matrix from PackA")
	}
	m, k := p.m, p.k
	checkDims("SgemmPacked", m, n, k)
	checkMatrix("SgemmPacked", "b", "ldb", b, k, n, ldb)
	checkMatrix("SgemmPacked", "c", "ldc", c, m, n, ldc)
	s := gemmScratchPool.Get().(*gemmScratch)
	defer s.release()
	s.dense = denseB{b, ldb}
	sgemmPacked("SgemmPacked", p, n, &s.dense, c, ldc, accumulate, s)
}

// sgemmPacked is SgemmPacked with B read through src, for arguments already checked.
func sgemmPacked(op string, p *PackedA, n int, src bSource, c []float32, ldc int,
	accumulate bool, s *gemmScratch) {
	m, k := p.m, p.k
	impl := activeGemm.Load()
	if p.mr != impl.mr {
		panic(fmt.Sprintf("kernels: %s: p was packed for %d-row panels but the %s "+
			"kernel uses %d-row panels; call PackA again after changing the path",
			op, p.mr, impl.label, impl.mr))
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !accumulate {
			clearMatrix(c, m, n, ldc)
		}
		return
	}

	s.b = grow(s.b, impl.nr*min(gemmKC, k))
	s.tile = grow(s.tile, impl.mr*impl.nr)

	for pc := 0; pc < k; pc += gemmKC {
		kc := min(gemmKC, k-pc)
		acc := accumulate || pc > 0
		block := p.data[pc*p.mPadded:]
		for ic := 0; ic < m; ic += gemmMC {
			// Panels of mr rows and kc columns, so rows from ic start at ic*kc.
			macroKernel(impl, min(gemmMC, m-ic), n, pc, kc, block[ic*kc:], src,
				c[ic*ldc:], ldc, acc, s)
		}
	}
}

// bSource is the B operand of a product, which hands out its own micro-panels.
type bSource interface {
	// panel returns rows [pc, pc+kc) and columns [jr, jr+nc) of B, with nc <= nr, as a
	// micro-panel with row stride ldb: element (pc+p, jr+j) at [p*ldb + j], and columns from nc
	// to nr zero. It returns B in place where it can, and otherwise writes the panel into dst
	// with ldb = nr and returns dst.
	panel(dst []float32, pc, kc, jr, nc, nr int) (b []float32, ldb int)
}

// aliasingStride is a row stride in floats (4 KiB). The rows of a B panel whose stride is a
// multiple of it all map to one set of a 32 KiB 8-way L1 cache. In L2 they map to one
// sixty-fourth of the sets, which hold L2 size / 4 KiB such rows. A panel of more rows is
// reloaded from L3 for each tile. On a 2-core AMD EPYC (Zen 3, 512 KiB of L2) the products
// of 32×32 planes then ran at 50-65 % of their speed on a packed copy. With 1 MiB of L2
// (Zen 4), the 256 rows of a panel fit, and reading them in place was faster.
const aliasingStride = 1024

// packAliased reports whether a panel of kc rows ldb floats apart is packed because its rows
// do not fit in L2 together.
func packAliased(ldb, kc int) bool {
	return ldb%aliasingStride == 0 && kc > cpu.L2/(4*aliasingStride)
}

// denseB is a row-major B matrix with row stride ldb.
type denseB struct {
	b   []float32
	ldb int
}

// panel returns whole panels in place. It copies the last panel of a B whose width is not a
// multiple of nr, to pad it with zeros, and the panels that packAliased selects.
func (d *denseB) panel(dst []float32, pc, kc, jr, nc, nr int) ([]float32, int) {
	if nc == nr && !packAliased(d.ldb, kc) {
		return d.b[pc*d.ldb+jr:], d.ldb
	}
	packB(dst, d.b[pc*d.ldb+jr:], d.ldb, kc, nc, nr)
	return dst, nr
}

// panelB is a k×n matrix stored as micro-panels of 16 columns, panel after panel: element
// (p, j) is at b[(j/16)*k*16 + p*16 + j%16], and columns past n up to a multiple of 16 are
// zero. Products read it without copying.
type panelB struct {
	b []float32
	k int
}

func (s *panelB) panel(dst []float32, pc, kc, jr, nc, nr int) ([]float32, int) {
	return s.b[jr*s.k+pc*nr:][:kc*nr], nr
}

// macroKernel multiplies an mc×kc block of packed A panels by rows [pc, pc+kc) and columns
// [0, n) of B into C. It takes B one kc×nr micro-panel at a time from src and runs each panel
// against every A panel. Full tiles go straight to C. An edge tile is computed whole into
// s.tile and only its rows below mc and columns below n are copied or added to C, so nothing
// outside the block is written.
func macroKernel(impl *gemmImpl, mc, n, pc, kc int, pa []float32, src bSource, c []float32,
	ldc int, accumulate bool, s *gemmScratch) {
	mr, nr := impl.mr, impl.nr
	scratch := s.b[:kc*nr]
	for jr := 0; jr < n; jr += nr {
		nrCur := min(nr, n-jr)
		bPanel, ldb := src.panel(scratch, pc, kc, jr, nrCur, nr)
		for ir := 0; ir < mc; ir += mr {
			mrCur := min(mr, mc-ir)
			aPanel := pa[ir*kc : (ir+mr)*kc]
			if nrCur == nr {
				if mrCur == mr {
					impl.kernel(aPanel, bPanel, ldb, c[ir*ldc+jr:], kc, ldc, accumulate)
					continue
				}
				if impl.edge != nil {
					impl.edge[mrCur](aPanel, bPanel, ldb, c[ir*ldc+jr:], kc, ldc, accumulate)
					continue
				}
			}
			impl.kernel(aPanel, bPanel, ldb, s.tile, kc, nr, false)
			for i := 0; i < mrCur; i++ {
				dst := c[(ir+i)*ldc+jr:][:nrCur]
				src := s.tile[i*nr:][:nrCur]
				if !accumulate {
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

// packA copies rows [0, mc) and columns [0, kc) of a (row stride lda) into panels of mr rows:
// element (i, p) goes to dst[(i/mr)*kc*mr + p*mr + i%mr]. Rows from mc up to the next multiple
// of mr are zero.
func packA(dst, a []float32, lda, mc, kc, mr int) {
	for ir := 0; ir < mc; ir += mr {
		panel := dst[ir*kc : (ir+mr)*kc]
		for i := 0; i < mr; i++ {
			if ir+i >= mc {
				for p := 0; p < kc; p++ {
					panel[p*mr+i] = 0
				}
				continue
			}
			row := a[(ir+i)*lda:][:kc]
			for p, v := range row {
				panel[p*mr+i] = v
			}
		}
	}
}

// packB copies rows [0, kc) and columns [0, nc) of b (row stride ldb), with nc <= nr, into one
// micro-panel: element (p, j) goes to dst[p*nr + j]. Columns from nc to nr are zero.
func packB(dst, b []float32, ldb, kc, nc, nr int) {
	if nc == 16 && nr == 16 {
		// Whole arrays copied through a local compile to inline vector moves, where copy of
		// 16 elements, or an array assigned straight between slices, calls memmove.
		for p := 0; p < kc; p++ {
			row := *(*[16]float32)(b[p*ldb:])
			*(*[16]float32)(dst[p*16:]) = row
		}
		return
	}
	for p := 0; p < kc; p++ {
		out := dst[p*nr : (p+1)*nr]
		copied := copy(out, b[p*ldb:][:nc])
		clear(out[copied:])
	}
}

// clearMatrix sets the m×n matrix c with row stride ldc to zero.
func clearMatrix(c []float32, m, n, ldc int) {
	for i := 0; i < m; i++ {
		clear(c[i*ldc:][:n])
	}
}

// roundUp returns x rounded up to a multiple of step.
func roundUp(x, step int) int {
	return (x + step - 1) / step * step
}

// checkDims panics unless the dimensions of a product are non-negative.
func checkDims(op string, m, n, k int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: %s: negative dimension in m=%d, n=%d, k=%d", op, m, n, k))
	}
}

// checkMatrix panics unless x, with the given row stride, can hold a rows×cols row-major matrix.
// The stride must be at least max(1, cols), and x must reach the last element of the last row.
func checkMatrix(op, name, strideName string, x []float32, rows, cols, stride int) {
	if stride < max(1, cols) {
		panic(fmt.Sprintf("kernels: %s: %s = %d is smaller than the %d columns of %s (want >= %d)",
			op, strideName, stride, cols, name, max(1, cols)))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*stride + cols; len(x) < need {
		panic(fmt.Sprintf("kernels: %s: len(%s) = %d is too short for %d×%d with %s = %d "+
			"(want >= %d)", op, name, len(x), rows, cols, strideName, stride, need))
	}
}
