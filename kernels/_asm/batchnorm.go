package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Predicates of VCMPPS. cmpNGE is "not greater or equal", true for unordered operands, so
// that 0 NGE y keeps the lanes where y > 0 or y is NaN.
const cmpNGE = 9

// genSumSquaresAVX2 emits the float64 sum and sum of squares of a float32 vector, 16 elements
// per pass in four independent pairs of accumulators.
func genSumSquaresAVX2() {
	TEXT("sumSquaresAVX2", NOSPLIT, "func(x []float32) (sum, sumSq float64)")
	Pragma("noescape")
	Doc(
		"sumSquaresAVX2 returns the float64 sum and sum of squares of x[:len(x)/16*16].",
		"Every element is converted to float64 before it is added. Requires AVX and FMA3.",
	)
	p := Load(Param("x").Base(), GP64())
	n := Load(Param("x").Len(), GP64())
	SHRQ(Imm(4), n)
	var s, q [4]reg.VecVirtual
	for i := range s {
		s[i], q[i] = YMM(), YMM()
		VXORPD(s[i], s[i], s[i])
		VXORPD(q[i], q[i], q[i])
	}
	v := [4]reg.VecVirtual{YMM(), YMM(), YMM(), YMM()}

	Label("loop")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	for i := range v {
		VCVTPS2PD(Mem{Base: p, Disp: 16 * i}, v[i])
		VADDPD(v[i], s[i], s[i])
		VFMADD231PD(v[i], v[i], q[i])
	}
	ADDQ(Imm(64), p)
	DECQ(n)
	JMP(LabelRef("loop"))

	Label("done")
	Store(horizontalSumPD(s), Return("sum"))
	Store(horizontalSumPD(q), Return("sumSq"))
	VZEROUPPER()
	RET()
}

// horizontalSumPD adds the four lanes of the four YMM accumulators and returns an XMM register
// with the total in its low lane.
func horizontalSumPD(acc [4]reg.VecVirtual) reg.Register {
	VADDPD(acc[1], acc[0], acc[0])
	VADDPD(acc[3], acc[2], acc[2])
	VADDPD(acc[2], acc[0], acc[0])
	hi := XMM()
	VEXTRACTF128(Imm(1), acc[0], hi)
	lo := acc[0].AsX()
	VADDPD(hi, lo, lo)
	VUNPCKHPD(lo, lo, hi)
	VADDSD(hi, lo, lo)
	return lo
}

// genBatchNormGradSumsAVX2 emits the two float64 sums of a batch-normalization backward pass:
// Σ dy and Σ dy·(x − mean), 8 elements per pass in two pairs of accumulators. With relu, the
// lanes whose output x·scale + shift is 0 or negative are left out, as the gradient of a fused
// ReLU requires.
func genBatchNormGradSumsAVX2(relu bool) {
	name := "batchNormGradSumsAVX2"
	signature := "func(dy, x []float32, mean float32) (sumDy, sumDyX float64)"
	masked := ""
	if relu {
		name = "batchNormGradSumsReLUAVX2"
		signature = "func(dy, x []float32, mean, scale, shift float32) (sumDy, sumDyX float64)"
		masked = ", leaving out the elements whose output x[i]·scale + shift is 0 or negative"
	}
	TEXT(name, NOSPLIT, signature)
	Pragma("noescape")
	Doc(
		name+" returns the float64 sums of dy[i] and of dy[i]·(x[i] − mean)",
		"over i < len(dy)/8*8"+masked+".",
		"x − mean is rounded to float32 before the product. Requires AVX and FMA3;",
		"x must be at least as long as dy.",
	)
	dy := Load(Param("dy").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	n := Load(Param("dy").Len(), GP64())
	SHRQ(Imm(3), n)
	t := newGradientTerms(relu)
	var g, gx [2]reg.VecVirtual
	for i := range g {
		g[i], gx[i] = YMM(), YMM()
		VXORPD(g[i], g[i], g[i])
		VXORPD(gx[i], gx[i], gx[i])
	}
	e64, d64 := [2]reg.VecVirtual{YMM(), YMM()}, [2]reg.VecVirtual{YMM(), YMM()}
	half := XMM()

	Label("loop")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	t.load(dy, x)
	VCVTPS2PD(t.e.AsX(), e64[0])
	VEXTRACTF128(Imm(1), t.e, half)
	VCVTPS2PD(half, e64[1])
	VCVTPS2PD(t.d.AsX(), d64[0])
	VEXTRACTF128(Imm(1), t.d, half)
	VCVTPS2PD(half, d64[1])
	for i := range g {
		VADDPD(e64[i], g[i], g[i])
		VFMADD231PD(e64[i], d64[i], gx[i])
	}
	ADDQ(Imm(32), dy)
	ADDQ(Imm(32), x)
	DECQ(n)
	JMP(LabelRef("loop"))

	Label("done")
	Store(horizontalSumPD([4]reg.VecVirtual{g[0], g[1], zeroPD(), zeroPD()}), Return("sumDy"))
	Store(horizontalSumPD([4]reg.VecVirtual{gx[0], gx[1], zeroPD(), zeroPD()}),
		Return("sumDyX"))
	VZEROUPPER()
	RET()
}

// gradientTerms holds the registers of the terms of both batch-norm gradient kernels: 8
// elements of dy in e and of x − mean in d. With relu, e is zeroed where the output
// x·scale + shift is 0 or negative, computed with the fused multiply-add of scaleShiftAVX2 so
// that the mask is the forward pass's bit for bit.
type gradientTerms struct {
	relu                                 bool
	e, d, mean, mask, zero, scale, shift reg.VecVirtual
}

// newGradientTerms allocates the registers and loads the parameters mean, and scale and shift
// with relu.
func newGradientTerms(relu bool) gradientTerms {
	t := gradientTerms{relu: relu, e: YMM(), d: YMM(), mean: YMM()}
	VBROADCASTSS(paramAddr("mean"), t.mean)
	if relu {
		t.mask, t.zero, t.scale, t.shift = YMM(), YMM(), YMM(), YMM()
		VXORPS(t.zero, t.zero, t.zero)
		VBROADCASTSS(paramAddr("scale"), t.scale)
		VBROADCASTSS(paramAddr("shift"), t.shift)
	}
	return t
}

// load loads the terms of the 8 elements at dy and x.
func (t gradientTerms) load(dy, x reg.Register) {
	VMOVUPS(Mem{Base: dy}, t.e)
	VMOVUPS(Mem{Base: x}, t.d)
	if t.relu {
		VMOVAPS(t.shift, t.mask)
		VFMADD231PS(t.d, t.scale, t.mask)
		VCMPPS(Imm(cmpNGE), t.mask, t.zero, t.mask)
		VANDPS(t.mask, t.e, t.e)
	}
	VSUBPS(t.mean, t.d, t.d)
}

// zeroPD returns a new YMM register set to zero.
func zeroPD() reg.VecVirtual {
	z := YMM()
	VXORPD(z, z, z)
	return z
}

// genBatchNormGradInputAVX2 emits the input gradient of a batch-normalization backward pass,
// dx = a·dy + b·(x − mean) + c, 8 elements per pass. With relu, dy counts as 0 where the output
// x·scale + shift is 0 or negative.
func genBatchNormGradInputAVX2(relu bool) {
	name := "batchNormGradInputAVX2"
	signature := "func(dx, dy, x []float32, mean, a, b, c float32)"
	masked := ""
	if relu {
		name = "batchNormGradInputReLUAVX2"
		signature = "func(dx, dy, x []float32, mean, a, b, c, scale, shift float32)"
		masked = ", with dy[i] taken as 0 where x[i]·scale + shift is 0 or negative"
	}
	TEXT(name, NOSPLIT, signature)
	Pragma("noescape")
	Doc(
		name+" sets dx[i] = a·dy[i] + b·(x[i] − mean) + c for i < len(dx)/8*8"+masked+".",
		"Requires AVX and FMA3; dy and x must be at least as long as dx.",
	)
	dx := Load(Param("dx").Base(), GP64())
	dy := Load(Param("dy").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	n := Load(Param("dx").Len(), GP64())
	SHRQ(Imm(3), n)
	terms := newGradientTerms(relu)
	a, b, c := YMM(), YMM(), YMM()
	VBROADCASTSS(paramAddr("a"), a)
	VBROADCASTSS(paramAddr("b"), b)
	VBROADCASTSS(paramAddr("c"), c)
	t := YMM()

	Label("loop")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	terms.load(dy, x)
	VMOVAPS(c, t)
	VFMADD231PS(b, terms.d, t)
	VFMADD231PS(a, terms.e, t)
	VMOVUPS(t, Mem{Base: dx})
	ADDQ(Imm(32), dx)
	ADDQ(Imm(32), dy)
	ADDQ(Imm(32), x)
	DECQ(n)
	JMP(LabelRef("loop"))

	Label("done")
	VZEROUPPER()
	RET()
}

// genScaleShiftAVX2 emits dst = src·scale + shift, clamped at 0 with relu, 32 elements per pass.
func genScaleShiftAVX2(relu bool) {
	name := "scaleShiftAVX2"
	clamp := ""
	if relu {
		name = "scaleShiftReLUAVX2"
		clamp = ", then max(·, 0), which keeps NaN"
	}
	TEXT(name, NOSPLIT, "func(dst, src []float32, scale, shift float32)")
	Pragma("noescape")
	Doc(
		name+" sets dst[i] = src[i]·scale + shift"+clamp+",",
		"for i < len(dst)/32*32, with one fused multiply-add. Requires AVX and FMA3; src must",
		"be at least as long as dst.",
	)
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())
	SHRQ(Imm(5), n)
	scale, shift, zero := YMM(), YMM(), YMM()
	VBROADCASTSS(paramAddr("scale"), scale)
	VBROADCASTSS(paramAddr("shift"), shift)
	VXORPS(zero, zero, zero)
	v := [4]reg.VecVirtual{YMM(), YMM(), YMM(), YMM()}

	Label("loop")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	for i := range v {
		VMOVAPS(shift, v[i])
		VFMADD231PS(Mem{Base: src, Disp: 32 * i}, scale, v[i])
		if relu {
			// Go operand order: the first operand is returned when either is NaN.
			VMAXPS(v[i], zero, v[i])
		}
		VMOVUPS(v[i], Mem{Base: dst, Disp: 32 * i})
	}
	ADDQ(Imm(128), dst)
	ADDQ(Imm(128), src)
	DECQ(n)
	JMP(LabelRef("loop"))

	Label("done")
	VZEROUPPER()
	RET()
}
