package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// AVX-512 micro-kernel tile: gemm512MR rows of A times 16 columns of B. Each accumulator row
// is one ZMM register, so the tile takes 16 accumulators and 1 B register out of 32, and A
// values reach the FMAs as embedded broadcasts with no register of their own. The 16 columns
// match the AVX2 kernel's, so both read the same packed B panels.
const gemm512MR = 16

// genGemmF32x16x16AVX512 emits the 16×16 fp32 GEMM micro-kernel.
//
// In the k loop, aPtr walks the packed A panel (16 floats per k step), bPtr walks the rows of
// the B panel (ldb floats per k step) and kc counts the remaining k steps.
func genGemmF32x16x16AVX512() {
	TEXT("gemmF32x16x16AVX512", NOSPLIT,
		"func(a, b []float32, ldb int, c []float32, kc, ldc int, accumulate bool)")
	Pragma("noescape")
	Doc(
		"gemmF32x16x16AVX512 computes one 16×16 tile of C from a packed A panel and a",
		"panel of 16 columns of B with row stride ldb. It has the contract of",
		"gemmF32x6x16AVX2FMA with 16 rows in place of 6: len(a) >= 16*kc and",
		"len(c) >= 15*ldc+16. Requires AVX512F.",
	)

	Comment("Prefetch the 16 rows of the C tile.")
	cPre := Load(Param("c").Base(), GP64())
	ldcPre := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldcPre)
	for i := 0; i < gemm512MR; i++ {
		PREFETCHT0(Mem{Base: cPre})
		PREFETCHT0(Mem{Base: cPre, Disp: 4*gemmNR - 4})
		if i < gemm512MR-1 {
			ADDQ(ldcPre, cPre)
		}
	}

	aPtr := Load(Param("a").Base(), GP64())
	bPtr := Load(Param("b").Base(), GP64())
	rows := loadRowStrides("ldb")
	kc := Load(Param("kc"), GP64())

	var acc [gemm512MR]reg.VecVirtual
	for i := range acc {
		acc[i] = ZMM()
		VPXORD(acc[i], acc[i], acc[i])
	}
	bv := ZMM()

	// step emits k step u of the current loop pass, whose B row is at row.
	step := func(u int, row Mem) {
		VMOVUPS(row, bv)
		for i := 0; i < gemm512MR; i++ {
			VFMADD231PS_BCST(Mem{Base: aPtr, Disp: 4 * (gemm512MR*u + i)}, bv, acc[i])
		}
	}

	emitGemmKLoopStrided(kc, aPtr, bPtr, rows, 4*gemm512MR, step)

	Label("store")
	cPtr := Load(Param("c").Base(), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldc)
	accumulate := Load(Param("accumulate"), GP8())
	TESTB(accumulate, accumulate)
	JZ(LabelRef("overwrite"))

	Comment("C += acc")
	for i := 0; i < gemm512MR; i++ {
		VADDPS(Mem{Base: cPtr}, acc[i], acc[i])
		VMOVUPS(acc[i], Mem{Base: cPtr})
		if i < gemm512MR-1 {
			ADDQ(ldc, cPtr)
		}
	}
	VZEROUPPER()
	RET()

	Comment("C = acc")
	Label("overwrite")
	for i := 0; i < gemm512MR; i++ {
		VMOVUPS(acc[i], Mem{Base: cPtr})
		if i < gemm512MR-1 {
			ADDQ(ldc, cPtr)
		}
	}
	VZEROUPPER()
	RET()
}

// genFMAPeakAVX512 emits the FMA throughput probe on ZMM registers: fmaPeakChains
// independent accumulators of 16 lanes, with no loads inside the loop.
func genFMAPeakAVX512() {
	TEXT("fmaPeakAVX512", NOSPLIT, "func(n int, x, y float32) float32")
	Doc(
		"fmaPeakAVX512 is fmaPeakAVX2FMA on 16-lane registers: n iterations of 12",
		"independent fused multiply-adds, 384 floating-point operations per iteration. It",
		"returns the sum of lane 0 of the 12 accumulators. Requires AVX512F.",
	)

	fmaPeakBody(ZMM, func(r reg.VecVirtual) { VPXORD(r, r, r) })
}

// genDotNT4x4AVX512 emits the 4×4 dot-product tile of SgemmNT on ZMM registers. It keeps 16
// accumulators and 4 rows of B in registers. Each k step of 16 values takes 8 loads for 16
// fused multiply-adds, where the 2×4 AVX2 tile takes 6 loads for 8.
func genDotNT4x4AVX512() {
	TEXT("dotNT4x4AVX512", NOSPLIT,
		"func(a []float32, lda int, b []float32, ldb int, k int, c []float32, ldc int)")
	Pragma("noescape")
	Doc(
		"dotNT4x4AVX512 is dotNT2x4AVX2 for one 4×4 tile of C, with the sums in 16 lanes:",
		"k must be a multiple of 16 and len(c) >= 3*ldc+4. Requires AVX512F.",
	)
	aPtr := Load(Param("a").Base(), GP64())
	lda := Load(Param("lda"), GP64())
	SHLQ(Imm(2), lda)
	lda3 := GP64()
	LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, lda3)
	bPtr := Load(Param("b").Base(), GP64())
	ldb := Load(Param("ldb"), GP64())
	SHLQ(Imm(2), ldb)
	ldb3 := GP64()
	LEAQ(Mem{Base: ldb, Index: ldb, Scale: 2}, ldb3)
	k := Load(Param("k"), GP64())
	SHRQ(Imm(4), k)

	var acc [4][4]reg.VecVirtual
	for i := range acc {
		for j := range acc[i] {
			acc[i][j] = ZMM()
			VPXORD(acc[i][j], acc[i][j], acc[i][j])
		}
	}
	var bv [4]reg.VecVirtual
	for j := range bv {
		bv[j] = ZMM()
	}
	av := ZMM()
	rowsA := [4]Mem{
		{Base: aPtr},
		{Base: aPtr, Index: lda, Scale: 1},
		{Base: aPtr, Index: lda, Scale: 2},
		{Base: aPtr, Index: lda3, Scale: 1},
	}
	rowsB := [4]Mem{
		{Base: bPtr},
		{Base: bPtr, Index: ldb, Scale: 1},
		{Base: bPtr, Index: ldb, Scale: 2},
		{Base: bPtr, Index: ldb3, Scale: 1},
	}

	Comment("One k step of 16 values per pass.")
	Label("loop")
	TESTQ(k, k)
	JZ(LabelRef("reduce"))
	for j := range bv {
		VMOVUPS(rowsB[j], bv[j])
	}
	for i := range rowsA {
		VMOVUPS(rowsA[i], av)
		for j := range bv {
			VFMADD231PS(bv[j], av, acc[i][j])
		}
	}
	ADDQ(Imm(64), aPtr)
	ADDQ(Imm(64), bPtr)
	DECQ(k)
	JMP(LabelRef("loop"))

	Comment("Fold each accumulator to 8 lanes, sum the lanes and add the 4 sums of a row to C.")
	Label("reduce")
	cPtr := Load(Param("c").Base(), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldc)
	for i := range acc {
		var s [4]reg.VecVirtual
		for j := range s {
			hi, sum := YMM(), YMM()
			VEXTRACTF64X4(Imm(1), acc[i][j], hi)
			VADDPS(hi, acc[i][j].AsY(), sum)
			s[j] = sum
		}
		addRowSums(s, Mem{Base: cPtr})
		if i < len(acc)-1 {
			ADDQ(ldc, cPtr)
		}
	}
	VZEROUPPER()
	RET()
}
