package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// genGemmBF16x16x16AVX512BF16 emits the 16×16 bf16 GEMM micro-kernel on VDPBF16PS, which
// multiplies pairs of bf16 values and adds both products to fp32 lanes.
//
// Neither avo nor the Go assembler supports the AVX512_BF16 instructions, so the kernel writes
// VDPBF16PS as raw EVEX bytes. Those bytes name their registers, so the whole kernel uses
// physical registers: the accumulators are Z0-Z15, the B vector is Z16, SI walks the A panel,
// DI the B panel and CX counts the k pairs.
func genGemmBF16x16x16AVX512BF16() {
	TEXT("gemmBF16x16x16AVX512BF16", NOSPLIT,
		"func(a, b []uint32, c []float32, kp, ldc int, accumulate bool)")
	Pragma("noescape")
	Doc(
		"gemmBF16x16x16AVX512BF16 computes one 16×16 tile of C from a packed A panel and a",
		"packed B panel of bf16 pairs. Word p*16+i of a holds A[i][2p] in its low half and",
		"A[i][2p+1] in its high half, and word p*16+j of b holds B[2p][j] and B[2p+1][j] the",
		"same way, for p < kp. In fp32 lanes it computes",
		"",
		"\tacc[i][j] = Σ_p A[i][2p+1]·B[2p+1][j] + A[i][2p]·B[2p][j]",
		"",
		"and stores acc into C (accumulate=false) or adds it to C, as gemmF32x16x16AVX512",
		"does. VDPBF16PS rounds to nearest even and flushes subnormal inputs and results to",
		"zero, whatever the MXCSR setting. Preconditions, not checked: kp >= 0, len(a) >= 16*kp,",
		"len(b) >= 16*kp, ldc >= 16 and len(c) >= 15*ldc+16. Requires AVX512F and",
		"AVX512_BF16.",
	)

	const mr = 16
	aPtr, bPtr, kp := reg.RSI, reg.RDI, reg.RCX
	bv := reg.Z16
	acc := []reg.VecPhysical{reg.Z0, reg.Z1, reg.Z2, reg.Z3, reg.Z4, reg.Z5, reg.Z6, reg.Z7,
		reg.Z8, reg.Z9, reg.Z10, reg.Z11, reg.Z12, reg.Z13, reg.Z14, reg.Z15}

	Load(Param("a").Base(), aPtr)
	Load(Param("b").Base(), bPtr)
	Load(Param("kp"), kp)
	for _, r := range acc {
		VPXORD(r, r, r)
	}

	// step emits one k pair at word offset u of the current loop pass.
	step := func(u int) {
		VMOVUPS(Mem{Base: bPtr, Disp: 4 * gemmNR * u}, bv)
		for i, r := range acc {
			vdpbf16psBroadcast(r, bv, aPtr, 4*(mr*u+i))
		}
	}

	// One k step of the shared loop is one pair of k values here.
	emitGemmKLoop(kp, aPtr, bPtr, 4*mr, 4*gemmNR, step)

	Label("store")
	cPtr, ldc := reg.RDX, reg.RBX
	Load(Param("c").Base(), cPtr)
	Load(Param("ldc"), ldc)
	SHLQ(Imm(2), ldc)
	Load(Param("accumulate"), reg.AL)
	TESTB(reg.AL, reg.AL)
	JZ(LabelRef("overwrite"))

	Comment("C += acc")
	for i, r := range acc {
		VADDPS(Mem{Base: cPtr}, r, r)
		VMOVUPS(r, Mem{Base: cPtr})
		if i < mr-1 {
			ADDQ(ldc, cPtr)
		}
	}
	VZEROUPPER()
	RET()

	Comment("C = acc")
	Label("overwrite")
	for i, r := range acc {
		VMOVUPS(r, Mem{Base: cPtr})
		if i < mr-1 {
			ADDQ(ldc, cPtr)
		}
	}
	VZEROUPPER()
	RET()
}

// vdpbf16psBroadcast emits VDPBF16PS dst, src1, disp(base){1to16} as raw bytes: dst += the
// pairwise bf16 dot products of src1 with the 32-bit pair at disp(base) broadcast to 16 lanes.
// dst and src1 are ZMM registers and base is a general-purpose register other than SP and R12,
// which would need a SIB byte.
func vdpbf16psBroadcast(dst, src1 reg.VecPhysical, base reg.GPPhysical, disp int) {
	d, s, b := int(dst.PhysicalIndex()), int(src1.PhysicalIndex()), int(base.PhysicalIndex())
	if b&7 == 4 {
		panic(fmt.Sprintf("vdpbf16psBroadcast: base %s needs a SIB byte", base.Asm()))
	}
	inv := func(bit int) byte { return byte(^bit & 1) }
	// EVEX P0: R X B R' 0 0 m m, with R, X, B and R' inverted and mm = 0F38.
	p0 := inv(d>>3)<<7 | 1<<6 | inv(b>>3)<<5 | inv(d>>4)<<4 | 0b10
	// P1: W vvvv 1 pp, with W0, vvvv the inverted low bits of src1 and pp = F3.
	p1 := byte(^s&15)<<3 | 1<<2 | 0b10
	// P2: z L'L b V' aaa: 512-bit length, broadcast on, V' the inverted bit 4 of src1.
	p2 := byte(0b10)<<5 | 1<<4 | inv(s>>4)<<3
	// ModRM: mod 10 (32-bit displacement), reg = dst, rm = base.
	modrm := byte(0b10)<<6 | byte(d&7)<<3 | byte(b&7)
	bytes := []byte{0x62, p0, p1, p2, 0x52, modrm,
		byte(disp), byte(disp >> 8), byte(disp >> 16), byte(disp >> 24)}
	Comment(fmt.Sprintf("VDPBF16PS %d(%s){1to16}, %s, %s", disp, base.Asm(), src1.Asm(),
		dst.Asm()))
	for _, x := range bytes {
		Instruction(&ir.Instruction{
			Opcode:   "BYTE",
			Operands: []Op{Imm(uint64(x))},
			Inputs:   []Op{dst, src1, base},
			Outputs:  []Op{dst},
		})
	}
}

// genPackBF16PairsAVX512BF16 emits the conversion of pairs of float32 rows into the bf16 pair
// layout of a B panel, with VCVTNE2PS2BF16 for the rounding and VPERMW for the interleave.
// VCVTNE2PS2BF16 is written as raw bytes, so the kernel uses physical registers. Z0 and Z1
// are the two rows, Z2 the result and Z3 the interleave index. SI walks b, DI walks dst, DX
// is one row of b in bytes and CX counts the pairs.
func genPackBF16PairsAVX512BF16() {
	TEXT("packBF16PairsAVX512BF16", NOSPLIT,
		"func(dst []uint32, b []float32, ldb, pairs int)")
	Pragma("noescape")
	Doc(
		"packBF16PairsAVX512BF16 rounds 16 columns of rows 2p and 2p+1 of b (row stride ldb)",
		"to bf16 and writes them as one 16-word row of a B panel, for p < pairs: word p*16+j",
		"of dst holds b[2p][j] in its low half and b[2p+1][j] in its high half. It rounds as",
		"bf16Round does. Preconditions, not checked: pairs >= 0, ldb >= 16,",
		"len(dst) >= 16*pairs and, for pairs > 0, len(b) >= (2*pairs-1)*ldb+16. Requires",
		"AVX512F, AVX512BW and AVX512_BF16.",
	)
	// Word j of the VCVTNE2PS2BF16 result is column j of row 2p and word 16+j is column j of
	// row 2p+1, so the interleave moves words j and 16+j to words 2j and 2j+1.
	index := GLOBL("bf16PairIndex", RODATA|NOPTR)
	for j := 0; j < 16; j++ {
		DATA(4*j, U16(j))
		DATA(4*j+2, U16(16+j))
	}

	src, dst, step, pairs := reg.RSI, reg.RDI, reg.RDX, reg.RCX
	even, odd, out, idx := reg.Z0, reg.Z1, reg.Z2, reg.Z3
	Load(Param("dst").Base(), dst)
	Load(Param("b").Base(), src)
	Load(Param("ldb"), step)
	Load(Param("pairs"), pairs)
	TESTQ(pairs, pairs)
	JZ(LabelRef("done"))
	SHLQ(Imm(2), step)
	VMOVDQU16(index, idx)

	Label("loop")
	VMOVUPS(Mem{Base: src}, even)
	VMOVUPS(Mem{Base: src, Index: step, Scale: 1}, odd)
	vcvtne2ps2bf16(out, odd, even)
	VPERMW(out, idx, out)
	VMOVDQU32(out, Mem{Base: dst})
	LEAQ(Mem{Base: src, Index: step, Scale: 2}, src)
	ADDQ(Imm(64), dst)
	DECQ(pairs)
	JNZ(LabelRef("loop"))
	VZEROUPPER()

	Label("done")
	RET()
}

// vcvtne2ps2bf16 emits VCVTNE2PS2BF16 src2, src1, dst as raw bytes: the 16 words of the low
// half of dst are src2 rounded to bf16, and the 16 of the high half are src1, all ZMM
// registers.
func vcvtne2ps2bf16(dst, src1, src2 reg.VecPhysical) {
	d, s, r := int(dst.PhysicalIndex()), int(src1.PhysicalIndex()), int(src2.PhysicalIndex())
	inv := func(bit int) byte { return byte(^bit & 1) }
	// EVEX P0: R X B R' 0 0 m m; for a register operand X extends rm. mm = 0F38.
	p0 := inv(d>>3)<<7 | inv(r>>4)<<6 | inv(r>>3)<<5 | inv(d>>4)<<4 | 0b10
	// P1: W0, vvvv the inverted low bits of src1, 1, pp = F2.
	p1 := byte(^s&15)<<3 | 1<<2 | 0b11
	// P2: z L'L b V' aaa: 512-bit length, V' the inverted bit 4 of src1.
	p2 := byte(0b10)<<5 | inv(s>>4)<<3
	modrm := byte(0b11)<<6 | byte(d&7)<<3 | byte(r&7)
	Comment(fmt.Sprintf("VCVTNE2PS2BF16 %s, %s, %s", src2.Asm(), src1.Asm(), dst.Asm()))
	for _, x := range []byte{0x62, p0, p1, p2, 0x72, modrm} {
		Instruction(&ir.Instruction{
			Opcode:   "BYTE",
			Operands: []Op{Imm(uint64(x))},
			Inputs:   []Op{src1, src2},
			Outputs:  []Op{dst},
		})
	}
}
