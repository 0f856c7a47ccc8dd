package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
)

// roundNearestEven is the rounding-control immediate of VCVTPS2PH that rounds to nearest,
// ties to even, whatever the MXCSR mode.
const roundNearestEven = 0

// genHalfF16C emits the fp16 ↔ fp32 conversions of 8 elements per pass with F16C.
func genHalfF16C() {
	TEXT("float16ToFloat32F16C", NOSPLIT, "func(dst []float32, src []uint16)")
	Pragma("noescape")
	Doc(
		"float16ToFloat32F16C converts the IEEE 754 binary16 values src[:len(dst)/8*8] to",
		"float32 with VCVTPH2PS, which is exact and quiets signalling NaNs. Requires AVX and",
		"F16C; src must be at least as long as dst.",
	)
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())
	SHRQ(Imm(3), n)
	Label("loop")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	v := YMM()
	VCVTPH2PS(Mem{Base: src}, v)
	VMOVUPS(v, Mem{Base: dst})
	ADDQ(Imm(16), src)
	ADDQ(Imm(32), dst)
	DECQ(n)
	JMP(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()

	TEXT("float32ToFloat16F16C", NOSPLIT, "func(dst []uint16, src []float32)")
	Pragma("noescape")
	Doc(
		"float32ToFloat16F16C converts src[:len(dst)/8*8] to the nearest binary16 values,",
		"ties to even, with VCVTPS2PH: beyond the range they become infinities, and NaNs stay",
		"quiet NaNs. Requires AVX and F16C; src must be at least as long as dst.",
	)
	dst = Load(Param("dst").Base(), GP64())
	src = Load(Param("src").Base(), GP64())
	n = Load(Param("dst").Len(), GP64())
	SHRQ(Imm(3), n)
	Label("loop32")
	TESTQ(n, n)
	JZ(LabelRef("done32"))
	w := YMM()
	VMOVUPS(Mem{Base: src}, w)
	VCVTPS2PH(Imm(roundNearestEven), w, Mem{Base: dst})
	ADDQ(Imm(32), src)
	ADDQ(Imm(16), dst)
	DECQ(n)
	JMP(LabelRef("loop32"))
	Label("done32")
	VZEROUPPER()
	RET()
}
