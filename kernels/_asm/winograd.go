package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The Winograd F(4×4, 3×3) tile transforms work on blocks of 8 tiles, one tile per lane.
// A row of 8 tiles, 4 floats per tile, is 4 YMM registers; interleave turns them into one
// register per column, and back. The lanes then hold the tiles in the order 0, 2, 4, 6, 1, 3,
// 5, 7, which the input transform stores and the output transform expects.

// interleave4x8 applies the shuffle network that turns 4 registers of 2 tiles × 4 columns
// into 4 registers of one column × 8 tiles (lane order above), and that same network turns
// those back into rows of tiles. It overwrites its inputs with the results.
func interleave4x8(y [4]reg.VecVirtual) {
	u := [4]reg.VecVirtual{YMM(), YMM(), YMM(), YMM()}
	// Go operand order: VUNPCKLPS b, a, dst is Intel's unpcklps(a, b).
	VUNPCKLPS(y[1], y[0], u[0])
	VUNPCKHPS(y[1], y[0], u[1])
	VUNPCKLPS(y[3], y[2], u[2])
	VUNPCKHPS(y[3], y[2], u[3])
	VUNPCKLPD(u[2], u[0], y[0])
	VUNPCKHPD(u[2], u[0], y[1])
	VUNPCKLPD(u[3], u[1], y[2])
	VUNPCKHPD(u[3], u[1], y[3])
}

// vectorConst returns a YMM register with v broadcast to every lane.
func vectorConst(v float32, scratch Mem) reg.VecVirtual {
	r := YMM()
	tmp := GP32()
	MOVL(U32(math.Float32bits(v)), tmp)
	MOVL(tmp, scratch)
	VBROADCASTSS(scratch, r)
	return r
}

// inputRowAVX applies Bᵀ to six vectors loaded by d and passes each result to out as soon as
// it is computed:
//
//	t0 = 4·d0 − 5·d2 + d4       t3 = (d4 − d2) + 2·(d3 − d1)
//	t1 = (d3 + d4) − 4·(d1 + d2) t4 = (d4 − d2) − 2·(d3 − d1)
//	t2 = (d4 − d3) + 4·(d1 − d2) t5 = 4·d1 − 5·d3 + d5
func inputRowAVX(d [6]reg.VecVirtual, c2, c4, c5 reg.VecVirtual,
	out func(i int, v reg.VecVirtual)) {
	t, a, b := YMM(), YMM(), YMM()
	VMOVAPS(d[4], t)
	VFMADD231PS(d[0], c4, t)
	VFNMADD231PS(d[2], c5, t)
	out(0, t)

	t = YMM()
	VADDPS(d[2], d[1], a)
	VADDPS(d[4], d[3], t)
	VFNMADD231PS(a, c4, t)
	out(1, t)

	t = YMM()
	VSUBPS(d[2], d[1], a)
	VSUBPS(d[3], d[4], t)
	VFMADD231PS(a, c4, t)
	out(2, t)

	t = YMM()
	VSUBPS(d[2], d[4], a)
	VSUBPS(d[1], d[3], b)
	VMOVAPS(a, t)
	VFMADD231PS(b, c2, t)
	out(3, t)
	t = YMM()
	VMOVAPS(a, t)
	VFNMADD231PS(b, c2, t)
	out(4, t)

	t = YMM()
	VMOVAPS(d[5], t)
	VFMADD231PS(d[1], c4, t)
	VFNMADD231PS(d[3], c5, t)
	out(5, t)
}

// outputRowAVX applies Aᵀ to six vectors and passes each of the four results to out:
//
//	y0 = m0 + (m1 + m2) + (m3 + m4)   y2 = (m1 + m2) + 4·(m3 + m4)
//	y1 = (m1 − m2) + 2·(m3 − m4)      y3 = (m1 − m2) + 8·(m3 − m4) + m5
func outputRowAVX(m [6]reg.VecVirtual, c2, c4, c8 reg.VecVirtual,
	out func(i int, v reg.VecVirtual)) {
	a, b, c, d := YMM(), YMM(), YMM(), YMM()
	VADDPS(m[2], m[1], a)
	VSUBPS(m[2], m[1], b)
	VADDPS(m[4], m[3], c)
	VSUBPS(m[4], m[3], d)

	t := YMM()
	VADDPS(a, m[0], t)
	VADDPS(c, t, t)
	out(0, t)
	t = YMM()
	VMOVAPS(b, t)
	VFMADD231PS(d, c2, t)
	out(1, t)
	t = YMM()
	VMOVAPS(a, t)
	VFMADD231PS(c, c4, t)
	out(2, t)
	t = YMM()
	VADDPS(m[5], b, t)
	VFMADD231PS(d, c8, t)
	out(3, t)
}

// genWinogradInputAVX2 emits the input transform of 8-tile blocks.
func genWinogradInputAVX2() {
	// The frame is too large for NOSPLIT, so the function checks for stack growth.
	TEXT("winogradInputAVX2", 0,
		"func(v []float32, ld int, x []float32, offs []int, rs int, blocks int)")
	Pragma("noescape")
	Doc(
		"winogradInputAVX2 computes Bᵀ·d·B for blocks×8 tiles of 6×6 inputs and stores",
		"element e of the tiles of block g at v[e*ld+8*g:], in the lane order 0, 2, 4, 6, 1,",
		"3, 5, 7 of the tiles. Row r of tile t is x[offs[t]+r*rs:][:6]; the kernel reads 8",
		"floats there. Requires AVX and FMA3; the slices must hold what is read and written.",
	)
	vPtr := Load(Param("v").Base(), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(Imm(2), ld)
	xPtr := Load(Param("x").Base(), GP64())
	offsPtr := Load(Param("offs").Base(), GP64())
	rs := Load(Param("rs"), GP64())
	SHLQ(Imm(2), rs)
	blocks := Load(Param("blocks"), GP64())

	// t holds the 36 vectors of d·B, row-major, between the two passes.
	t := AllocLocal(36 * 32)
	scratch := AllocLocal(8)
	c2, c4, c5 := vectorConst(2, scratch), vectorConst(4, scratch), vectorConst(5, scratch)

	Label("block")
	TESTQ(blocks, blocks)
	JZ(LabelRef("done"))

	Comment("Pass 1: d·B along each of the 6 rows. ya[q] and yb[q] hold columns 0-3 and")
	Comment("4-7 of tiles 2q (low half) and 2q+1 (high half).")
	row := GP64()
	MOVQ(xPtr, row)
	for r := 0; r < 6; r++ {
		var ya, yb [4]reg.VecVirtual
		for q := range ya {
			ya[q], yb[q] = YMM(), YMM()
			lo, hi := GP64(), GP64()
			MOVQ(Mem{Base: offsPtr, Disp: 8 * 2 * q}, lo)
			MOVQ(Mem{Base: offsPtr, Disp: 8 * (2*q + 1)}, hi)
			// The broadcast writes the whole register, and the insert then replaces its high half.
			VBROADCASTF128(Mem{Base: row, Index: lo, Scale: 4}, ya[q])
			VINSERTF128(Imm(1), Mem{Base: row, Index: hi, Scale: 4}, ya[q], ya[q])
			VBROADCASTF128(Mem{Base: row, Index: lo, Scale: 4, Disp: 16}, yb[q])
			VINSERTF128(Imm(1), Mem{Base: row, Index: hi, Scale: 4, Disp: 16}, yb[q], yb[q])
		}
		interleave4x8(ya)
		interleave4x8(yb)
		d := [6]reg.VecVirtual{ya[0], ya[1], ya[2], ya[3], yb[0], yb[1]}
		inputRowAVX(d, c2, c4, c5, func(i int, x reg.VecVirtual) {
			VMOVUPS(x, t.Offset(32*(r*6+i)))
		})
		if r < 5 {
			ADDQ(rs, row)
		}
	}

	Comment("Pass 2: Bᵀ·(d·B) down each of the 6 columns, stored to v.")
	for c := 0; c < 6; c++ {
		var d [6]reg.VecVirtual
		for r := range d {
			d[r] = YMM()
			VMOVUPS(t.Offset(32*(r*6+c)), d[r])
		}
		inputRowAVX(d, c2, c4, c5, func(i int, x reg.VecVirtual) {
			// Element e = i*6 + c, at v + e*ld.
			off := GP64()
			MOVQ(U32(i*6+c), off)
			IMULQ(ld, off)
			VMOVUPS(x, Mem{Base: vPtr, Index: off, Scale: 1})
		})
	}

	ADDQ(Imm(32), vPtr)
	ADDQ(Imm(64), offsPtr)
	DECQ(blocks)
	JMP(LabelRef("block"))

	Label("done")
	VZEROUPPER()
	RET()
}

// genWinogradOutputAVX2 emits the output transform of 8-tile blocks, with the bias and an
// optional ReLU.
func genWinogradOutputAVX2() {
	TEXT("winogradOutputAVX2", 0,
		"func(out []float32, offs []int, rs int, m []float32, ld int, blocks int, "+
			"bias float32, relu bool)")
	Pragma("noescape")
	Doc(
		"winogradOutputAVX2 computes Aᵀ·M·A + bias for blocks×8 tiles, where element e of",
		"the tiles of block g is m[e*ld+8*g:] in the lane order of winogradInputAVX2, and",
		"stores row r of tile t at out[offs[t]+r*rs:][:4], clamped at 0 if relu. Tiles",
		"that share a place in out must have the same results. Requires AVX and FMA3; the",
		"slices must hold what is read and written.",
	)
	outPtr := Load(Param("out").Base(), GP64())
	offsPtr := Load(Param("offs").Base(), GP64())
	rs := Load(Param("rs"), GP64())
	SHLQ(Imm(2), rs)
	mPtr := Load(Param("m").Base(), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(Imm(2), ld)
	blocks := Load(Param("blocks"), GP64())
	bias := YMM()
	VBROADCASTSS(paramAddr("bias"), bias)
	relu := Load(Param("relu"), GP8())

	// t holds the 24 vectors of Aᵀ·M, row-major with 6 columns, between the two passes.
	t := AllocLocal(24 * 32)
	scratch := AllocLocal(8)
	c2, c4, c8 := vectorConst(2, scratch), vectorConst(4, scratch), vectorConst(8, scratch)

	Label("block")
	TESTQ(blocks, blocks)
	JZ(LabelRef("done"))

	Comment("Pass 1: Aᵀ·M down each of the 6 columns.")
	for c := 0; c < 6; c++ {
		var m [6]reg.VecVirtual
		for r := range m {
			m[r] = YMM()
			off := GP64()
			MOVQ(U32(r*6+c), off)
			IMULQ(ld, off)
			VMOVUPS(Mem{Base: mPtr, Index: off, Scale: 1}, m[r])
		}
		outputRowAVX(m, c2, c4, c8, func(i int, x reg.VecVirtual) {
			VMOVUPS(x, t.Offset(32*(i*6+c)))
		})
	}

	Comment("Pass 2: (Aᵀ·M)·A along each of the 4 rows, then the bias, the ReLU and the")
	Comment("shuffle back to rows of tiles.")
	row := GP64()
	MOVQ(outPtr, row)
	for r := 0; r < 4; r++ {
		var m [6]reg.VecVirtual
		for c := range m {
			m[c] = YMM()
			VMOVUPS(t.Offset(32*(r*6+c)), m[c])
		}
		var y [4]reg.VecVirtual
		outputRowAVX(m, c2, c4, c8, func(i int, x reg.VecVirtual) {
			VADDPS(bias, x, x)
			y[i] = x
		})
		skip := "norelu" + string(rune('0'+r))
		TESTB(relu, relu)
		JZ(LabelRef(skip))
		zero := YMM()
		VXORPS(zero, zero, zero)
		for i := range y {
			// Go operand order: the first operand is returned when either is NaN.
			VMAXPS(y[i], zero, y[i])
		}
		Label(skip)
		interleave4x8(y)
		for q := range y {
			lo := GP64()
			MOVQ(Mem{Base: offsPtr, Disp: 8 * 2 * q}, lo)
			VMOVUPS(y[q].AsX(), Mem{Base: row, Index: lo, Scale: 4})
			hi := GP64()
			MOVQ(Mem{Base: offsPtr, Disp: 8 * (2*q + 1)}, hi)
			VEXTRACTF128(Imm(1), y[q], Mem{Base: row, Index: hi, Scale: 4})
		}
		if r < 3 {
			ADDQ(rs, row)
		}
	}

	ADDQ(Imm(64), offsPtr)
	ADDQ(Imm(32), mPtr)
	DECQ(blocks)
	JMP(LabelRef("block"))

	Label("done")
	VZEROUPPER()
	RET()
}

// gradRowAVX applies A, the transpose of Aᵀ, to four vectors and passes each of the six
// results to out:
//
//	z0 = y0                  z3 = (y0 + 4·y2) + 2·(y1 + 4·y3)
//	z1 = (y0 + y2) + (y1 + y3)   z4 = (y0 + 4·y2) − 2·(y1 + 4·y3)
//	z2 = (y0 + y2) − (y1 + y3)   z5 = y3
func gradRowAVX(y [4]reg.VecVirtual, c2, c4 reg.VecVirtual, out func(i int, v reg.VecVirtual)) {
	out(0, y[0])
	a, b := YMM(), YMM()
	VADDPS(y[2], y[0], a)
	VADDPS(y[3], y[1], b)
	t := YMM()
	VADDPS(b, a, t)
	out(1, t)
	t = YMM()
	VSUBPS(b, a, t)
	out(2, t)
	a, b = YMM(), YMM()
	VMOVAPS(y[0], a)
	VFMADD231PS(y[2], c4, a)
	VMOVAPS(y[1], b)
	VFMADD231PS(y[3], c4, b)
	t = YMM()
	VMOVAPS(a, t)
	VFMADD231PS(b, c2, t)
	out(3, t)
	t = YMM()
	VMOVAPS(a, t)
	VFNMADD231PS(b, c2, t)
	out(4, t)
	out(5, y[3])
}

// genWinogradGradAVX2 emits the transform of output gradients, A·dY·Aᵀ, of 8-tile blocks.
func genWinogradGradAVX2() {
	TEXT("winogradGradAVX2", 0,
		"func(dm []float32, ld int, rows []float32, rs int, blocks int)")
	Pragma("noescape")
	Doc(
		"winogradGradAVX2 computes A·dY·Aᵀ for blocks×8 tiles of 4×4 output gradients, where",
		"row r of tile t is rows[r*rs+4*t:][:4], and stores element e of the tiles of block g",
		"at dm[e*ld+8*g:] in the lane order of winogradInputAVX2. Requires AVX and FMA3; the",
		"slices must hold what is read and written.",
	)
	dmPtr := Load(Param("dm").Base(), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(Imm(2), ld)
	rowPtr := Load(Param("rows").Base(), GP64())
	rs := Load(Param("rs"), GP64())
	SHLQ(Imm(2), rs)
	blocks := Load(Param("blocks"), GP64())

	// Slots 0-15 of t hold dY by rows, and slots 16-39 the 6 rows of 4 columns of A·dY.
	t := AllocLocal(40 * 32)
	scratch := AllocLocal(8)
	c2, c4 := vectorConst(2, scratch), vectorConst(4, scratch)

	Label("block")
	TESTQ(blocks, blocks)
	JZ(LabelRef("done"))

	Comment("Pass 1: A·dY down each of the 4 columns, from the rows of tiles.")
	var cols [4][4]reg.VecVirtual // cols[r][c]: row r, column c of 8 tiles
	row := GP64()
	MOVQ(rowPtr, row)
	for r := 0; r < 4; r++ {
		for q := range cols[r] {
			cols[r][q] = YMM()
			VMOVUPS(Mem{Base: row, Disp: 32 * q}, cols[r][q])
		}
		interleave4x8(cols[r])
		for c := range cols[r] {
			VMOVUPS(cols[r][c], t.Offset(32*(r*4+c)))
		}
		if r < 3 {
			ADDQ(rs, row)
		}
	}
	for c := 0; c < 4; c++ {
		var y [4]reg.VecVirtual
		for r := range y {
			y[r] = YMM()
			VMOVUPS(t.Offset(32*(r*4+c)), y[r])
		}
		gradRowAVX(y, c2, c4, func(i int, x reg.VecVirtual) {
			VMOVUPS(x, t.Offset(32*(16+i*4+c)))
		})
	}

	Comment("Pass 2: (A·dY)·Aᵀ along each of the 6 rows, stored to dm.")
	for i := 0; i < 6; i++ {
		var y [4]reg.VecVirtual
		for c := range y {
			y[c] = YMM()
			VMOVUPS(t.Offset(32*(16+i*4+c)), y[c])
		}
		gradRowAVX(y, c2, c4, func(j int, x reg.VecVirtual) {
			off := GP64()
			MOVQ(U32(i*6+j), off)
			IMULQ(ld, off)
			VMOVUPS(x, Mem{Base: dmPtr, Index: off, Scale: 1})
		})
	}

	ADDQ(Imm(32), dmPtr)
	ADDQ(U32(128), rowPtr)
	DECQ(blocks)
	JMP(LabelRef("block"))

	Label("done")
	VZEROUPPER()
	RET()
}

// genCopyRowsAVX2 emits the copy of h contiguous rows of w floats into rows ds floats apart,
// 8 floats per move. It fills the interior of the zero-padded input planes of the Winograd
// transforms, where one copy call per row of 8 to 32 floats cost more than the copy itself.
func genCopyRowsAVX2() {
	TEXT("copyRowsAVX2", NOSPLIT, "func(dst []float32, ds int, src []float32, w int, h int)")
	Pragma("noescape")
	Doc(
		"copyRowsAVX2 sets dst[y*ds+x] = src[y*w+x] for y < h and x < w. Preconditions, not",
		"checked: w is a positive multiple of 8, h >= 1, ds >= w, len(src) >= h*w and",
		"len(dst) >= (h-1)*ds+w. Requires AVX.",
	)
	dst := Load(Param("dst").Base(), GP64())
	ds := Load(Param("ds"), GP64())
	SHLQ(Imm(2), ds)
	src := Load(Param("src").Base(), GP64())
	w := Load(Param("w"), GP64())
	SHRQ(Imm(3), w)
	h := Load(Param("h"), GP64())
	d, k := GP64(), GP64()
	v := YMM()

	Label("row")
	MOVQ(dst, d)
	MOVQ(w, k)
	Label("chunk")
	VMOVUPS(Mem{Base: src}, v)
	VMOVUPS(v, Mem{Base: d})
	ADDQ(Imm(32), src)
	ADDQ(Imm(32), d)
	DECQ(k)
	JNZ(LabelRef("chunk"))
	ADDQ(ds, dst)
	DECQ(h)
	JNZ(LabelRef("row"))
	VZEROUPPER()
	RET()
}
