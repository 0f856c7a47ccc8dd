package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Predicates of VCMPPS: "equal, ordered", "unordered" (either operand is NaN) and "greater
// than, ordered" (false where either operand is NaN).
const (
	cmpEQ        = 0
	cmpUnordered = 3
	cmpGTOrdered = 0x1e
)

// genMaxPoolGrad3x3AVX2 emits the gradient of a 3×3, stride-1 max pool over a plane padded
// with −∞, 8 outputs per pass. It takes the window maximum first. Then, for each of the 9
// window positions in row-major order, the lanes whose input equals the maximum and have not
// matched yet add dy to that position of the padded gradient. Column j of the window adds to
// gradient plane j, so that no store overlaps a load of the same pass, which would stall
// store forwarding.
func genMaxPoolGrad3x3AVX2() {
	TEXT("maxPoolGrad3x3AVX2", NOSPLIT,
		"func(dxp []float32, ps int, xp []float32, ws int, dy []float32, h, w int)")
	Pragma("noescape")
	Doc(
		"maxPoolGrad3x3AVX2 adds the gradient dy (h×w) of a 3×3, stride-1 max pool to three",
		"planes dxp[j*ps:], where xp is the input padded by one pixel on every side and every",
		"plane has row stride ws: output (r, q) covers xp[(r+i)*ws+q+j] for i, j < 3, and its",
		"dy goes to dxp[j*ps+(r+i)*ws+q+j] for the first maximum of the window in row-major",
		"order. The sum of the three planes is the padded gradient. w must be a multiple of 8.",
		"Requires AVX.",
	)
	dxRow := Load(Param("dxp").Base(), GP64())
	ps := Load(Param("ps"), GP64())
	SHLQ(Imm(2), ps)
	xRow := Load(Param("xp").Base(), GP64())
	ws := Load(Param("ws"), GP64())
	SHLQ(Imm(2), ws)
	dyPtr := Load(Param("dy").Base(), GP64())
	h := Load(Param("h"), GP64())
	w := Load(Param("w"), GP64())
	SHRQ(Imm(3), w)
	ws2 := GP64()
	LEAQ(Mem{Base: ws, Index: ws, Scale: 1}, ws2)

	Label("row")
	TESTQ(h, h)
	JZ(LabelRef("done"))
	xp, dxp, n := GP64(), GP64(), GP64()
	MOVQ(xRow, xp)
	MOVQ(dxRow, dxp)
	MOVQ(w, n)
	dxPlane := [3]reg.GPVirtual{nil, GP64(), GP64()}
	LEAQ(Mem{Base: dxp, Index: ps, Scale: 1}, dxPlane[1])
	LEAQ(Mem{Base: dxPlane[1], Index: ps, Scale: 1}, dxPlane[2])

	Label("block")
	TESTQ(n, n)
	JZ(LabelRef("nextrow"))
	// window returns the address of window position (i, j) of the current 8 outputs.
	window := func(base reg.Register, i, j int) Mem {
		m := Mem{Base: base, Disp: 4 * j}
		if base == dxp && j > 0 {
			// Plane j of the gradient.
			m.Base = dxPlane[j]
		}
		switch i {
		case 1:
			m.Index, m.Scale = ws, 1
		case 2:
			m.Index, m.Scale = ws2, 1
		}
		return m
	}
	var x [9]reg.VecVirtual
	mx := YMM()
	for k := range x {
		x[k] = YMM()
		VMOVUPS(window(xp, k/3, k%3), x[k])
		if k == 0 {
			VMOVAPS(x[0], mx)
		} else {
			VMAXPS(x[k], mx, mx)
		}
	}
	g, found, eq, t := YMM(), YMM(), YMM(), YMM()
	VMOVUPS(Mem{Base: dyPtr}, g)
	VXORPS(found, found, found)
	for k := range x {
		VCMPPS(Imm(cmpEQ), mx, x[k], eq)
		// Go operand order: VANDNPS b, a, dst is dst = ^a & b, the lanes not found yet.
		VANDNPS(eq, found, eq)
		VORPS(eq, found, found)
		VANDPS(g, eq, eq)
		at := window(dxp, k/3, k%3)
		VADDPS(at, eq, t)
		VMOVUPS(t, at)
	}
	ADDQ(Imm(32), xp)
	ADDQ(Imm(32), dxp)
	ADDQ(Imm(32), dxPlane[1])
	ADDQ(Imm(32), dxPlane[2])
	ADDQ(Imm(32), dyPtr)
	DECQ(n)
	JMP(LabelRef("block"))

	Label("nextrow")
	ADDQ(ws, xRow)
	ADDQ(ws, dxRow)
	DECQ(h)
	JMP(LabelRef("row"))

	Label("done")
	VZEROUPPER()
	RET()
}

// genMax3AVX2 emits the element-wise maximum of three vectors, 8 elements per pass, with a
// NaN in any input giving NaN: VMAXPS alone returns its second operand when one is NaN.
func genMax3AVX2() {
	TEXT("max3AVX2", NOSPLIT, "func(dst, a, b, c []float32)")
	Pragma("noescape")
	Doc(
		"max3AVX2 sets dst[i] = max(a[i], b[i], c[i]) for i < len(dst)/8*8, and to NaN where",
		"any of the three is NaN. Requires AVX; a, b and c must be at least as long as dst.",
	)
	dst := Load(Param("dst").Base(), GP64())
	a := Load(Param("a").Base(), GP64())
	b := Load(Param("b").Base(), GP64())
	c := Load(Param("c").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())
	SHRQ(Imm(3), n)

	Label("loop")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	va, vb, vc, m, sum, u := YMM(), YMM(), YMM(), YMM(), YMM(), YMM()
	VMOVUPS(Mem{Base: a}, va)
	VMOVUPS(Mem{Base: b}, vb)
	VMOVUPS(Mem{Base: c}, vc)
	VMAXPS(vb, va, m)
	VMAXPS(vc, m, m)

	// u marks the lanes with a NaN input, where the sum is NaN and replaces the maximum.
	VADDPS(vb, va, sum)
	VADDPS(vc, sum, sum)
	VCMPPS(Imm(cmpUnordered), va, va, u)
	VCMPPS(Imm(cmpUnordered), vb, vb, vb)
	VCMPPS(Imm(cmpUnordered), vc, vc, vc)
	VORPS(vb, u, u)
	VORPS(vc, u, u)
	// Go operand order: VBLENDVPS mask, b, a, dst is dst = mask ? b : a.
	VBLENDVPS(u, sum, m, m)

	VMOVUPS(m, Mem{Base: dst})
	ADDQ(Imm(32), dst)
	ADDQ(Imm(32), a)
	ADDQ(Imm(32), b)
	ADDQ(Imm(32), c)
	DECQ(n)
	JMP(LabelRef("loop"))

	Label("done")
	VZEROUPPER()
	RET()
}

// genAllAboveNegInfAVX2 emits the check that picks the assembly max-pool gradient.
func genAllAboveNegInfAVX2() {
	TEXT("allAboveNegInfAVX2", NOSPLIT, "func(x []float32) bool")
	Pragma("noescape")
	Doc(
		"allAboveNegInfAVX2 reports whether every element of x[:len(x)/8*8] is greater than",
		"−∞, which rules out NaN too. Requires AVX.",
	)
	p := Load(Param("x").Base(), GP64())
	n := Load(Param("x").Len(), GP64())
	SHRQ(Imm(3), n)
	scratch := AllocLocal(8)
	negInf := vectorConst(float32(math.Inf(-1)), scratch)
	// all contains, in each lane, whether every element seen in that lane was above −∞.
	all := YMM()
	VCMPPS(Imm(cmpEQ), negInf, negInf, all)

	Label("loop")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	v := YMM()
	VMOVUPS(Mem{Base: p}, v)
	VCMPPS(Imm(cmpGTOrdered), negInf, v, v)
	VANDPS(v, all, all)
	ADDQ(Imm(32), p)
	DECQ(n)
	JMP(LabelRef("loop"))

	Label("done")
	bits := GP32()
	VMOVMSKPS(all, bits)
	ok := GP8()
	CMPL(bits, U32(0xff))
	SETEQ(ok)
	Store(ok, ReturnIndex(0))
	VZEROUPPER()
	RET()
}
