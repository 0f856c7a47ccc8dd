// Command gen writes the AVX2+FMA assembly of package kernels and its Go stubs with avo.
//
// Run it from this directory (package kernels runs it through go:generate):
//
//	go run . -out ../kernels_amd64.s -stubs ../kernels_amd64.go
//
// The Go twins of these routines are in ../gemm_generic.go and ../batchnorm.go.
package main

import (
	"flag"

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
	genGemmF32x6x16AVX2FMA()
	genFMAPeakAVX2FMA()
	genSumSquaresAVX2()
	for _, relu := range []bool{false, true} {
		genScaleShiftAVX2(relu)
		genBatchNormGradSumsAVX2(relu)
		genBatchNormGradInputAVX2(relu)
	}
	Generate()
}

// genGemmF32x6x16AVX2FMA emits the 6×16 fp32 GEMM micro-kernel.
//
// In the k loop, aPtr walks the packed A panel (6 floats per k step), bPtr walks the packed B
// panel (16 floats per k step) and kc counts the remaining k steps. In the store, cPtr points
// to the current C row and ldc is the C row stride in bytes. avo assigns the registers.
func genGemmF32x6x16AVX2FMA() {
	TEXT("gemmF32x6x16AVX2FMA", NOSPLIT,
		"func(a, b, c []float32, kc, ldc int, accumulate bool)")
	Pragma("noescape")
	Doc(
		"gemmF32x6x16AVX2FMA computes one 6×16 tile of C from a packed A panel and a packed",
		"B panel:",
		"",
		"\tvar acc [6][16]float32",
		"\tfor p := 0; p < kc; p++ {",
		"\t\tfor i := 0; i < 6; i++ {",
		"\t\t\tfor j := 0; j < 16; j++ {",
		"\t\t\t\tacc[i][j] += a[p*6+i] * b[p*16+j]",
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
		"Each product is added with one fused multiply-add, so results can differ from the loop",
		"above in the last bits. Preconditions, not checked: kc >= 0, len(a) >= 6*kc,",
		"len(b) >= 16*kc, ldc >= 16 and len(c) >= 5*ldc+16.",
		"Requires AVX and FMA3. Dispatch selects it only when AVX2 and FMA3 are both present.",
	)

	// Prefetch the C tile, which is read or written only after the k loop, so that its cache
	// misses overlap with the FMAs. A row of 16 floats spans one or two cache lines.
	Comment("Prefetch the 6 rows of the C tile.")
	cPre := Load(Param("c").Base(), GP64())
	ldcPre := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldcPre)
	for i := 0; i < gemmMR; i++ {
		PREFETCHT0(Mem{Base: cPre})
		PREFETCHT0(Mem{Base: cPre, Disp: 4*gemmNR - 4})
		if i < gemmMR-1 {
			ADDQ(ldcPre, cPre)
		}
	}

	aPtr := Load(Param("a").Base(), GP64())
	bPtr := Load(Param("b").Base(), GP64())
	kc := Load(Param("kc"), GP64())

	var acc [gemmMR][2]reg.VecVirtual
	for i := range acc {
		for h := range acc[i] {
			acc[i][h] = YMM()
			VXORPS(acc[i][h], acc[i][h], acc[i][h])
		}
	}
	b0, b1, ai := YMM(), YMM(), YMM()

	// step emits one k step at float offset u of the current loop pass.
	step := func(u int) {
		VMOVUPS(Mem{Base: bPtr, Disp: 4 * gemmNR * u}, b0)
		VMOVUPS(Mem{Base: bPtr, Disp: 4 * (gemmNR*u + 8)}, b1)
		for i := 0; i < gemmMR; i++ {
			VBROADCASTSS(Mem{Base: aPtr, Disp: 4 * (gemmMR*u + i)}, ai)
			VFMADD231PS(b0, ai, acc[i][0])
			VFMADD231PS(b1, ai, acc[i][1])
		}
	}

	Comment("Main loop: gemmUnroll k steps per pass.")
	Label("unrolled")
	CMPQ(kc, Imm(gemmUnroll))
	JL(LabelRef("single"))
	for u := 0; u < gemmUnroll; u++ {
		step(u)
	}
	ADDQ(Imm(4*gemmMR*gemmUnroll), aPtr)
	ADDQ(U32(4*gemmNR*gemmUnroll), bPtr)
	SUBQ(Imm(gemmUnroll), kc)
	JMP(LabelRef("unrolled"))

	Comment("Remaining k steps, one at a time.")
	Label("single")
	TESTQ(kc, kc)
	JZ(LabelRef("store"))
	step(0)
	ADDQ(Imm(4*gemmMR), aPtr)
	ADDQ(Imm(4*gemmNR), bPtr)
	DECQ(kc)
	JMP(LabelRef("single"))

	Label("store")
	cPtr := Load(Param("c").Base(), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldc)
	accumulate := Load(Param("accumulate"), GP8())
	TESTB(accumulate, accumulate)
	JZ(LabelRef("overwrite"))

	Comment("C += acc")
	for i := 0; i < gemmMR; i++ {
		VADDPS(Mem{Base: cPtr}, acc[i][0], acc[i][0])
		VADDPS(Mem{Base: cPtr, Disp: 32}, acc[i][1], acc[i][1])
		VMOVUPS(acc[i][0], Mem{Base: cPtr})
		VMOVUPS(acc[i][1], Mem{Base: cPtr, Disp: 32})
		if i < gemmMR-1 {
			ADDQ(ldc, cPtr)
		}
	}
	VZEROUPPER()
	RET()

	Comment("C = acc")
	Label("overwrite")
	for i := 0; i < gemmMR; i++ {
		VMOVUPS(acc[i][0], Mem{Base: cPtr})
		VMOVUPS(acc[i][1], Mem{Base: cPtr, Disp: 32})
		if i < gemmMR-1 {
			ADDQ(ldc, cPtr)
		}
	}
	VZEROUPPER()
	RET()
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

	n := Load(Param("n"), GP64())
	x, y := YMM(), YMM()
	VBROADCASTSS(paramAddr("x"), x)
	VBROADCASTSS(paramAddr("y"), y)
	var acc [fmaPeakChains]reg.VecVirtual
	for c := range acc {
		acc[c] = YMM()
		VXORPS(acc[c], acc[c], acc[c])
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
