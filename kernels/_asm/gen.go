// Command gen writes the AVX2+FMA and AVX-512 assembly of package kernels and its Go stubs
// with avo.
//
// Run it from this directory (package kernels runs it through go:generate):
//
//	go run . -out ../kernels_amd64.s -stubs ../kernels_amd64.go
//
// The Go twins of these routines are in ../gemm_generic.go and ../batchnorm.go.
package main

import (
	"flag"
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Micro-kernel tile: gemmMR rows of A times gemmNR columns of B. Each accumulator row is two
// YMM registers of 8 lanes, so the tile takes 12 accumulators, 2 B registers and 1 broadcast
// register out of the 16 YMM registers.
const (
	gemmMR = 6
	gemmNR = 16

	// gemmUnroll is how many k steps one pass of the main loop performs.
	gemmUnroll = 4

	// fmaPeakChains is the number of independent FMA dependency chains in the peak probe. The
	// pipes never wait for a result when it is at least FMA latency × FMA pipes, so 12 covers
	// two pipes with a latency of up to 6 cycles.
	fmaPeakChains = 12
)

func main() {
	// avo registers its flags on flag.CommandLine and names the package after the working
	// directory ("_asm") unless -pkg is given. Changing the default before Generate parses the
	// flags keeps "-pkg" out of the command line that the generated header records.
	if err := flag.CommandLine.Set("pkg", "kernels"); err != nil {
		panic(err)
	}

	ConstraintExpr("amd64,!noasm")
	for rows := 1; rows <= gemmMR; rows++ {
		genGemmF32xRx16AVX2FMA(rows)
	}
	genFMAPeakAVX2FMA()
	genGemmF32x16x16AVX512()
	genFMAPeakAVX512()
	genGemmBF16x16x16AVX512BF16()
	genPackBF16PairsAVX512BF16()
	genDotNT2x4AVX2()
	genDotNT4x4AVX512()
	genWinogradInputAVX2()
	genWinogradOutputAVX2()
	genWinogradGradAVX2()
	genCopyRowsAVX2()
	genMaxPoolGrad3x3AVX2()
	genMax3AVX2()
	genAllAboveNegInfAVX2()
	genHalfF16C()
	genSumSquaresAVX2()
	for _, relu := range []bool{false, true} {
		genScaleShiftAVX2(relu)
		genBatchNormGradSumsAVX2(relu)
		genBatchNormGradInputAVX2(relu)
	}
	Generate()
}

// genGemmF32xRx16AVX2FMA emits the rows×16 fp32 GEMM micro-kernel, rows <= gemmMR. The packed
// A panel has gemmMR rows whatever rows is: a kernel with fewer rows computes the edge tile of
// a matrix whose row count is not a multiple of gemmMR, straight into C.
//
// In the k loop, aPtr walks the packed A panel (gemmMR floats per k step), bPtr walks the rows
// of the B panel (ldb floats per k step) and kc counts the remaining k steps. In the store,
// cPtr points to the current C row and ldc is the C row stride in bytes. avo assigns the
// registers.
func genGemmF32xRx16AVX2FMA(rows int) {
	name := fmt.Sprintf("gemmF32x%dx16AVX2FMA", rows)
	TEXT(name, NOSPLIT,
		"func(a, b []float32, ldb int, c []float32, kc, ldc int, accumulate bool)")
	Pragma("noescape")
	if rows < gemmMR {
		cLen := "16"
		if rows > 1 {
			cLen = fmt.Sprintf("%d*ldc+16", rows-1)
		}
		Doc(
			fmt.Sprintf("%s computes rows [0, %d) of the 6×16 tile of gemmF32x6x16AVX2FMA", name,
				rows),
			"from the same packed A panel of 6 rows, for the last rows of a matrix whose row",
			fmt.Sprintf("count is not a multiple of 6. It needs len(c) >= %s.", cLen),
		)
	} else {
		Doc(
			"gemmF32x6x16AVX2FMA computes one 6×16 tile of C from a packed A panel and a panel",
			"of 16 columns of B with row stride ldb. ldb is 16 for a packed panel, and the row",
			"stride of B for a row-major B read in place:",
			"",
			"\tvar acc [6][16]float32",
			"\tfor p := 0; p < kc; p++ {",
			"\t\tfor i := 0; i < 6; i++ {",
			"\t\t\tfor j := 0; j < 16; j++ {",
			"\t\t\t\tacc[i][j] += a[p*6+i] * b[p*ldb+j]",
			"\t\t\t}",
			"\t\t}",
			"\t}",
			"\tfor i := 0; i < 6; i++ {",
			"\t\tfor j := 0; j < 16; j++ {",
			"\t\t\tif accumulate {",
			"\t\t\t\tc[i*ldc+j] += acc[i][j]",
			"\t\t\t} else {",
			"\t\t\t\tc[i*ldc+j] = acc[i][j]",
			"\t\t\t}",
			"\t\t}",
			"\t}",
			"",
			"Each product is added with one fused multiply-add, so results can differ from the",
			"loop above in the last bits. Preconditions, not checked: kc >= 0, len(a) >= 6*kc,",
			"len(b) >= (kc-1)*ldb+16 if kc > 0, ldc >= 16 and len(c) >= 5*ldc+16.",
			"Requires AVX and FMA3. Dispatch selects it only when AVX2 and FMA3 are both present.",
		)
	}

	// Prefetch the C tile, which is read or written only after the k loop, so that its cache
	// misses overlap with the FMAs. A row of 16 floats spans one or two cache lines.
	Comment(fmt.Sprintf("Prefetch the %d rows of the C tile.", rows))
	cPre := Load(Param("c").Base(), GP64())
	ldcPre := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldcPre)
	for i := 0; i < rows; i++ {
		PREFETCHT0(Mem{Base: cPre})
		PREFETCHT0(Mem{Base: cPre, Disp: 4*gemmNR - 4})
		if i < rows-1 {
			ADDQ(ldcPre, cPre)
		}
	}

	aPtr := Load(Param("a").Base(), GP64())
	bPtr := Load(Param("b").Base(), GP64())
	strides := loadRowStrides("ldb")
	kc := Load(Param("kc"), GP64())

	// Each row keeps the summation order of the 6-row kernel, so a row of C comes out the
	// same whether it falls in a whole tile or in the last one. With 4 rows or fewer, that
	// leaves fewer FMA chains than it takes to cover their latency, but still less work than
	// a whole tile computed into scratch memory.
	acc := make([][2]reg.VecVirtual, rows)
	for i := range acc {
		for h := range acc[i] {
			acc[i][h] = YMM()
			VXORPS(acc[i][h], acc[i][h], acc[i][h])
		}
	}
	b0, b1, ai := YMM(), YMM(), YMM()

	// step emits k step u of the current loop pass, whose B row is at row.
	step := func(u int, row Mem) {
		VMOVUPS(row, b0)
		VMOVUPS(row.Offset(32), b1)
		for i := range acc {
			VBROADCASTSS(Mem{Base: aPtr, Disp: 4 * (gemmMR*u + i)}, ai)
			VFMADD231PS(b0, ai, acc[i][0])
			VFMADD231PS(b1, ai, acc[i][1])
		}
	}

	emitGemmKLoopStrided(kc, aPtr, bPtr, strides, 4*gemmMR, step)

	Label("store")
	cPtr := Load(Param("c").Base(), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldc)
	accumulate := Load(Param("accumulate"), GP8())
	TESTB(accumulate, accumulate)
	JZ(LabelRef("overwrite"))

	Comment("C += acc")
	for i := range acc {
		VADDPS(Mem{Base: cPtr}, acc[i][0], acc[i][0])
		VADDPS(Mem{Base: cPtr, Disp: 32}, acc[i][1], acc[i][1])
		VMOVUPS(acc[i][0], Mem{Base: cPtr})
		VMOVUPS(acc[i][1], Mem{Base: cPtr, Disp: 32})
		if i < rows-1 {
			ADDQ(ldc, cPtr)
		}
	}
	VZEROUPPER()
	RET()

	Comment("C = acc")
	Label("overwrite")
	for i := range acc {
		VMOVUPS(acc[i][0], Mem{Base: cPtr})
		VMOVUPS(acc[i][1], Mem{Base: cPtr, Disp: 32})
		if i < rows-1 {
			ADDQ(ldc, cPtr)
		}
	}
	VZEROUPPER()
	RET()
}

// rowStrides contains a row stride of B in bytes and its multiples by 3 and by gemmUnroll, so
// that the gemmUnroll rows of one loop pass are addressed from a single base register.
type rowStrides struct {
	ld, ld3, ldUnroll reg.Register
}

// loadRowStrides loads the row stride in floats of the parameter named param.
func loadRowStrides(param string) rowStrides {
	r := rowStrides{ld: Load(Param(param), GP64()), ld3: GP64(), ldUnroll: GP64()}
	SHLQ(Imm(2), r.ld)
	LEAQ(Mem{Base: r.ld, Index: r.ld, Scale: 2}, r.ld3)
	MOVQ(r.ld, r.ldUnroll)
	SHLQ(Imm(2), r.ldUnroll)
	return r
}

// emitGemmKLoopStrided is emitGemmKLoop for a B panel whose rows are rows.ld bytes apart:
// step u of a pass gets the address of its B row, and each step advances aPtr by aBytes.
func emitGemmKLoopStrided(kc, aPtr, bPtr reg.Register, rows rowStrides, aBytes int,
	step func(u int, row Mem)) {
	if gemmUnroll != 4 {
		panic("emitGemmKLoopStrided addresses 4 rows a pass")
	}
	addr := [gemmUnroll]Mem{
		{Base: bPtr},
		{Base: bPtr, Index: rows.ld, Scale: 1},
		{Base: bPtr, Index: rows.ld, Scale: 2},
		{Base: bPtr, Index: rows.ld3, Scale: 1},
	}
	Comment("Main loop: gemmUnroll k steps per pass.")
	Label("unrolled")
	CMPQ(kc, Imm(gemmUnroll))
	JL(LabelRef("single"))
	for u := 0; u < gemmUnroll; u++ {
		step(u, addr[u])
	}
	ADDQ(U32(aBytes*gemmUnroll), aPtr)
	ADDQ(rows.ldUnroll, bPtr)
	SUBQ(Imm(gemmUnroll), kc)
	JMP(LabelRef("unrolled"))

	Comment("Remaining k steps, one at a time.")
	Label("single")
	TESTQ(kc, kc)
	JZ(LabelRef("store"))
	step(0, addr[0])
	ADDQ(U32(aBytes), aPtr)
	ADDQ(rows.ld, bPtr)
	DECQ(kc)
	JMP(LabelRef("single"))
}

// emitGemmKLoop emits the k loop of a GEMM micro-kernel: gemmUnroll calls of step per pass,
// then single steps, then a jump to the label "store". Each step advances aPtr by aBytes and
// bPtr by bBytes, and kc counts the remaining steps.
func emitGemmKLoop(kc, aPtr, bPtr reg.Register, aBytes, bBytes int, step func(u int)) {
	Comment("Main loop: gemmUnroll k steps per pass.")
	Label("unrolled")
	CMPQ(kc, Imm(gemmUnroll))
	JL(LabelRef("single"))
	for u := 0; u < gemmUnroll; u++ {
		step(u)
	}
	ADDQ(U32(aBytes*gemmUnroll), aPtr)
	ADDQ(U32(bBytes*gemmUnroll), bPtr)
	SUBQ(Imm(gemmUnroll), kc)
	JMP(LabelRef("unrolled"))

	Comment("Remaining k steps, one at a time.")
	Label("single")
	TESTQ(kc, kc)
	JZ(LabelRef("store"))
	step(0)
	ADDQ(U32(aBytes), aPtr)
	ADDQ(U32(bBytes), bPtr)
	DECQ(kc)
	JMP(LabelRef("single"))
}

// genFMAPeakAVX2FMA emits the FMA throughput probe: fmaPeakChains independent accumulators,
// each updated once per iteration, with no loads inside the loop.
func genFMAPeakAVX2FMA() {
	TEXT("fmaPeakAVX2FMA", NOSPLIT, "func(n int, x, y float32) float32")
	Doc(
		"fmaPeakAVX2FMA runs n iterations of 12 independent 8-lane fused multiply-adds and",
		"returns the sum of lane 0 of the 12 accumulators:",
		"",
		"\tvar acc [12]float32",
		"\tfor it := 0; it < n; it++ {",
		"\t\tfor c := range acc {",
		"\t\t\tacc[c] += x * y",
		"\t\t}",
		"\t}",
		"\tvar sum float32",
		"\tfor _, v := range acc {",
		"\t\tsum += v",
		"\t}",
		"\treturn sum",
		"",
		"It does 192 floating-point operations per iteration and exists to measure the FMA peak",
		"of one core. Requires AVX and FMA3.",
	)

	fmaPeakBody(YMM, func(r reg.VecVirtual) { VXORPS(r, r, r) })
}

// fmaPeakBody emits the body of an FMA throughput probe. It takes its registers from newReg,
// clears each accumulator with zero and returns the sum of the accumulators' lane 0.
func fmaPeakBody(newReg func() reg.VecVirtual, zero func(reg.VecVirtual)) {
	n := Load(Param("n"), GP64())
	x, y := newReg(), newReg()
	VBROADCASTSS(paramAddr("x"), x)
	VBROADCASTSS(paramAddr("y"), y)
	var acc [fmaPeakChains]reg.VecVirtual
	for c := range acc {
		acc[c] = newReg()
		zero(acc[c])
	}

	Label("loop")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	for c := range acc {
		VFMADD231PS(x, y, acc[c])
	}
	DECQ(n)
	JMP(LabelRef("loop"))

	Label("done")
	for c := 1; c < fmaPeakChains; c++ {
		VADDSS(acc[c].AsX(), acc[0].AsX(), acc[0].AsX())
	}
	Store(acc[0].AsX(), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// paramAddr returns the stack address of a scalar parameter, for instructions that take a memory
// operand directly.
func paramAddr(name string) Mem {
	basic, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return basic.Addr
}

// genDotNT2x4AVX2 emits a column of 2×4 tiles of C += A·Bᵀ for A and B stored with their k
// dimension contiguous: for each tile, eight accumulators of 8 lanes each run along k and are
// summed across lanes at the end. Per 8 values of k it loads 4 rows of B, streams 2 rows of A
// and does 8 FMAs. The 4 rows of B are the same for every tile of the column, so they stay in
// L1 while the rows of A stream past, and one call covers the column.
func genDotNT2x4AVX2() {
	TEXT("dotNT2x4AVX2", NOSPLIT,
		"func(a []float32, lda int, b []float32, ldb int, k int, c []float32, ldc int, tiles int)")
	Pragma("noescape")
	Doc(
		"dotNT2x4AVX2 adds to tiles 2×4 tiles of C, one below the other, the dot products of",
		"2·tiles rows of A with 4 rows of B:",
		"",
		"\tfor i := 0; i < 2*tiles; i++ {",
		"\t\tfor j := 0; j < 4; j++ {",
		"\t\t\tvar sum float32",
		"\t\t\tfor p := 0; p < k; p++ {",
		"\t\t\t\tsum += a[i*lda+p] * b[j*ldb+p]",
		"\t\t\t}",
		"\t\t\tc[i*ldc+j] += sum",
		"\t\t}",
		"\t}",
		"",
		"The sums run in 8 lanes with fused multiply-adds, so results can differ from the loop",
		"above in the last bits. Preconditions, not checked: k is a multiple of 8, tiles >= 1,",
		"the rows fit in a and b, and len(c) >= (2*tiles-1)*ldc+4. Requires AVX and FMA3.",
	)
	aPtr := Load(Param("a").Base(), GP64())
	lda := Load(Param("lda"), GP64())
	SHLQ(Imm(2), lda)
	bBase := Load(Param("b").Base(), GP64())
	ldb := Load(Param("ldb"), GP64())
	SHLQ(Imm(2), ldb)
	ldb3 := GP64()
	LEAQ(Mem{Base: ldb, Index: ldb, Scale: 2}, ldb3)
	k8 := Load(Param("k"), GP64())
	SHRQ(Imm(3), k8)
	cPtr := Load(Param("c").Base(), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldc)
	tiles := Load(Param("tiles"), GP64())
	bPtr, kc := GP64(), GP64()

	var acc [2][4]reg.VecVirtual
	for i := range acc {
		for j := range acc[i] {
			acc[i][j] = YMM()
		}
	}
	var bv [4]reg.VecVirtual
	for j := range bv {
		bv[j] = YMM()
	}
	av := YMM()

	// step emits the 8 FMAs of the 8 values of k at byte offset disp from the pointers. Row 1
	// of A is lda bytes past row 0.
	step := func(disp int) {
		VMOVUPS(Mem{Base: bPtr, Disp: disp}, bv[0])
		VMOVUPS(Mem{Base: bPtr, Index: ldb, Scale: 1, Disp: disp}, bv[1])
		VMOVUPS(Mem{Base: bPtr, Index: ldb, Scale: 2, Disp: disp}, bv[2])
		VMOVUPS(Mem{Base: bPtr, Index: ldb3, Scale: 1, Disp: disp}, bv[3])
		for i, row := range []Mem{{Base: aPtr, Disp: disp},
			{Base: aPtr, Index: lda, Scale: 1, Disp: disp}} {
			VMOVUPS(row, av)
			for j := range bv {
				VFMADD231PS(bv[j], av, acc[i][j])
			}
		}
	}

	Comment("One pass per tile: rows 2t and 2t+1 of A and of C.")
	Label("tile")
	for i := range acc {
		for j := range acc[i] {
			VXORPS(acc[i][j], acc[i][j], acc[i][j])
		}
	}
	MOVQ(bBase, bPtr)
	MOVQ(k8, kc)
	aRow := GP64()
	MOVQ(aPtr, aRow)

	Comment("Main loop: 16 values of k per pass, which halves the loop overhead per FMA.")
	Label("pair")
	CMPQ(kc, Imm(2))
	JL(LabelRef("single"))
	step(0)
	step(32)
	ADDQ(Imm(64), aPtr)
	ADDQ(Imm(64), bPtr)
	SUBQ(Imm(2), kc)
	JMP(LabelRef("pair"))

	Label("single")
	TESTQ(kc, kc)
	JZ(LabelRef("reduce"))
	step(0)

	Comment("Sum the lanes of each accumulator and add the 4 sums of a row to C.")
	Label("reduce")
	addRowSums(acc[0], Mem{Base: cPtr})
	addRowSums(acc[1], Mem{Base: cPtr, Index: ldc, Scale: 1})
	Comment("Next tile: A and C move down 2 rows.")
	LEAQ(Mem{Base: aRow, Index: lda, Scale: 2}, aPtr)
	LEAQ(Mem{Base: cPtr, Index: ldc, Scale: 2}, cPtr)
	DECQ(tiles)
	JNZ(LabelRef("tile"))
	VZEROUPPER()
	RET()
}

// addRowSums sums the 8 lanes of each of the 4 accumulators s and adds the 4 sums to the 4
// floats at c. It overwrites s.
func addRowSums(s [4]reg.VecVirtual, c Mem) {
	// After the three horizontal adds, lane j of each 128-bit half contains the partial sum
	// of accumulator j over that half.
	VHADDPS(s[1], s[0], s[0])
	VHADDPS(s[3], s[2], s[2])
	VHADDPS(s[2], s[0], s[0])
	hi := XMM()
	VEXTRACTF128(Imm(1), s[0], hi)
	lo := s[0].AsX()
	VADDPS(hi, lo, lo)
	VADDPS(c, lo, lo)
	VMOVUPS(lo, c)
}
