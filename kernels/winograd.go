package kernels

import "fmt"

// Winograd's minimal filtering algorithm F(4×4, 3×3) computes a 4×4 tile of a stride-1 3×3
// convolution from a 6×6 input tile with 36 multiplications per input channel, where the
// direct convolution takes 144:
//
//	Y = Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A
//
// with the matrices of Lavin and Gray (interpolation points 0, ±1, ±2 and ∞). Over all tiles
// and channels, the 36 element-wise products become 36 GEMMs: for each element e of the 6×6
// transformed tile, U[e] [out × in] times V[e] [in × tiles].
const (
	winoTile  = 4 // output tile side
	winoInput = 6 // input tile side
	winoElems = winoInput * winoInput
)

// WinogradF43 is a 3×3, stride-1 convolution weight transformed for F(4×4, 3×3), with the 36
// matrices U[e] packed for SgemmPacked, or for SgemmBF16Packed by NewWinogradF43BF16. It is
// read-only after it is made and can be shared by concurrent Conv calls, each with its own
// scratch.
type WinogradF43 struct {
	out, in int
	u       [winoElems]*PackedA
	ub      [winoElems]*PackedABF16 // the bf16 form of u, set in place of u
}

// NewWinogradF43 transforms the [out, in, 3, 3] weight w. It panics if w is too short.
func NewWinogradF43(w []float32, out, in int) *WinogradF43 {
	checkWinogradWeight("NewWinogradF43", w, out, in)
	wg := &WinogradF43{out: out, in: in}
	// The 36 packed matrices share one allocation, and each transformed kernel is written
	// straight to its place in them.
	impl := activeGemm.Load()
	mPadded := roundUp(out, impl.mr)
	data := make([]float32, winoElems*mPadded*in)
	for e := range wg.u {
		wg.u[e] = &PackedA{m: out, k: in, mr: impl.mr, mPadded: mPadded,
			data: data[e*mPadded*in : (e+1)*mPadded*in]}
	}
	for o := range out {
		for c := range in {
			t := transformWeight((*[9]float32)(w[(o*in+c)*9:]))
			at := wg.u[0].index(o, c)
			for e, v := range t {
				wg.u[e].data[at] = v
			}
		}
	}
	return wg
}

// NewWinogradF43BF16 transforms the [out, in, 3, 3] weight w for a convolution whose 36
// products run in the arithmetic of SgemmBF16: the transformed weight and input tiles are
// rounded to bfloat16 and the products summed in float32. The transforms themselves stay in
// float32. It panics if w is too short.
func NewWinogradF43BF16(w []float32, out, in int) *WinogradF43 {
	u := winogradWeight("NewWinogradF43BF16", w, out, in)
	wg := &WinogradF43{out: out, in: in}
	for e := range wg.ub {
		wg.ub[e] = PackABF16(out, in, u[e*out*in:], in)
	}
	return wg
}

// winogradWeight returns the 36 matrices U[e] = (G·g·Gᵀ)[e] of the [out, in, 3, 3] weight w,
// each out×in, one after the other.
func winogradWeight(op string, w []float32, out, in int) []float32 {
	checkWinogradWeight(op, w, out, in)
	u := make([]float32, winoElems*out*in)
	for o := range out {
		for c := range in {
			t := transformWeight((*[9]float32)(w[(o*in+c)*9:]))
			for e, v := range t {
				u[(e*out+o)*in+c] = v
			}
		}
	}
	return u
}

// checkWinogradWeight panics unless w can be the [out, in, 3, 3] weight of a convolution with
// at least one channel on each side.
func checkWinogradWeight(op string, w []float32, out, in int) {
	if out < 1 || in < 1 {
		panic(fmt.Sprintf("kernels: %s: %d output and %d input channels, want at least 1",
			op, out, in))
	}
	if len(w) < out*in*9 {
		panic(fmt.Sprintf("kernels: %s: len(w) = %d is too short for %d×%d×3×3",
			op, len(w), out, in))
	}
}

// WinogradScratch is the workspace of WinogradF43.Conv: the transformed input tiles, the
// products, the zero-padded input planes of one channel, the output rows of tiles where the
// output cannot be written in place, and the places of the tiles. One goroutine uses it at a
// time; it grows on demand and is reused after that.
type WinogradScratch struct {
	v, m, padded, rowsOut []float32
	du                    []float32 // weight gradient in the Winograd domain
	inOffs, outOffs       []int
}

// WinogradImages describes the images of one WinogradF43.Conv call. Image i of the input is
// X[i*XStride:], C×H×W floats, and image i of the output is Y[i*YStride:], out×OH×OW floats
// with OH = H+2·Pad−2 and OW = W+2·Pad−2.
type WinogradImages struct {
	X       []float32
	XStride int
	Y       []float32
	YStride int
	N, H, W int
	// Pad is the zero padding on every side, from 0 to 2.
	Pad int
	// Bias, if not nil, is added to each output channel, and ReLU then clamps at 0. With
	// Accumulate, the result is added to Y; it cannot be combined with Bias or ReLU.
	Bias       []float32
	ReLU       bool
	Accumulate bool
}

// WinogradTiles returns the number of 4×4 output tiles of one image of a 3×3 convolution
// with the given input size and padding.
func WinogradTiles(h, w, pad int) int {
	return ceilDiv(h+2*pad-2, winoTile) * ceilDiv(w+2*pad-2, winoTile)
}

// Conv computes the convolution of the images of im with the transformed weight, through s.
// The tiles of all N images go through each of the 36 GEMMs together, so N should be large
// enough for about a hundred tiles. Conv panics if a size, the padding or a slice is invalid.
func (wg *WinogradF43) Conv(s *WinogradScratch, im WinogradImages) {
	wg.check(im)
	if im.N == 0 {
		return
	}
	impl := activeGemm.Load()
	if impl.nr != panelTiles {
		panic(fmt.Sprintf("kernels: WinogradF43.Conv: the %s kernel has %d-column panels, "+
			"want %d", impl.label, impl.nr, panelTiles))
	}
	l := newWinoLayout(im)
	// The GEMMs read V as micro-panels of 16 tiles, written in place by the transform.
	tiles := roundUp(im.N*l.perImage, panelTiles)
	ld := wg.strides(tiles)
	s.v = grow(s.v, winoElems*ld.v)
	s.m = grow(s.m, winoElems*ld.m)
	l.preparePadded(s, im.N, tiles)
	for c := range wg.in {
		l.fillPadded(s.padded, im, 0, im.N, c)
		for p := 0; p < tiles/panelTiles; p++ {
			impl.winoInput(s.v[(p*wg.in+c)*panelTiles:], ld.v, s.padded,
				s.inOffs[p*panelTiles:], l.pw, panelTiles/8)
		}
	}
	wg.products(s, tiles, ld)

	// Whole tiles go straight to the output planes, unless the output is added to.
	inPlace := !im.Accumulate && l.oh%winoTile == 0 && l.ow%winoTile == 0
	s.outOffs = growInts(s.outOffs, tiles)
	rs := winoTile * tiles
	for t := range s.outOffs {
		if !inPlace {
			s.outOffs[t] = winoTile * t
			continue
		}
		// Tiles past the last image repeat its last tile, with the same result.
		u := min(t, im.N*l.perImage-1)
		i, ty, tx := u/l.perImage, u%l.perImage/l.tilesX, u%l.tilesX
		s.outOffs[t] = i*im.YStride + winoTile*(ty*l.ow+tx)
	}
	if !inPlace {
		s.rowsOut = grow(s.rowsOut, winoTile*rs)
	}
	outPlane := l.oh * l.ow
	for o := range wg.out {
		var bias float32
		if im.Bias != nil {
			bias = im.Bias[o]
		}
		m := s.m[o*tiles:]
		if inPlace {
			impl.winoOutput(im.Y[o*outPlane:], s.outOffs, l.ow, m, ld.m, tiles/8, bias, im.ReLU)
			continue
		}
		impl.winoOutput(s.rowsOut, s.outOffs, rs, m, ld.m, tiles/8, bias, im.ReLU)
		for i := range im.N {
			y := im.Y[i*im.YStride+o*outPlane:][:outPlane]
			l.scatterRows(y, s.rowsOut, rs, i, im.Accumulate)
		}
	}
}

// winoStrides are the distances in floats between the matrices V[e] of transformed input
// tiles, and between the products M[e], of a Conv call.
type winoStrides struct{ v, m int }

// strides returns the strides of a Conv call over the given number of tiles. Each matrix is
// followed by one cache line of padding: the transforms touch all 36 matrices for every block
// of tiles, and matrices a multiple of 4 KiB apart would all fall into the same L1 set.
func (wg *WinogradF43) strides(tiles int) winoStrides {
	const pad = 16
	return winoStrides{v: wg.in*tiles + pad, m: wg.out*tiles + pad}
}

// products computes the 36 products M[e] = U[e]·V[e] of a Conv call over the given number
// of tiles, in float32 or in bf16.
func (wg *WinogradF43) products(s *WinogradScratch, tiles int, ld winoStrides) {
	if wg.ub[0] != nil {
		bs := bf16ScratchPool.Get().(*bf16Scratch)
		for e, u := range wg.ub {
			// V[e] is in panels of 16 tiles, each in×16 floats.
			sgemmBF16Packed(u, tiles, s.v[e*ld.v:], panelTiles, wg.in*panelTiles,
				s.m[e*ld.m:], tiles, false, bs)
		}
		bf16ScratchPool.Put(bs)
		return
	}
	gs := gemmScratchPool.Get().(*gemmScratch)
	for e, u := range wg.u {
		gs.panels = panelB{b: s.v[e*ld.v:], k: wg.in}
		sgemmPacked("WinogradF43.Conv", u, tiles, &gs.panels, s.m[e*ld.m:], tiles,
			false, gs)
	}
	gs.release()
}

func (wg *WinogradF43) check(im WinogradImages) {
	if im.N < 0 || im.H < 1 || im.W < 1 || im.Pad < 0 || im.Pad > 2 ||
		im.H+2*im.Pad < 3 || im.W+2*im.Pad < 3 {
		panic(fmt.Sprintf("kernels: WinogradF43.Conv: %d images of %d×%d with padding %d, "+
			"want a padding from 0 to 2 and a padded image of at least 3×3", im.N, im.H, im.W,
			im.Pad))
	}
	if im.Accumulate && (im.Bias != nil || im.ReLU) {
		panic("kernels: WinogradF43.Conv: Accumulate cannot be combined with Bias or ReLU")
	}
	if im.Bias != nil && len(im.Bias) < wg.out {
		panic(fmt.Sprintf("kernels: WinogradF43.Conv: len(Bias) = %d is shorter than the %d "+
			"output channels", len(im.Bias), wg.out))
	}
	if im.N == 0 {
		return
	}
	inSize := wg.in * im.H * im.W
	outSize := wg.out * (im.H + 2*im.Pad - 2) * (im.W + 2*im.Pad - 2)
	for _, b := range []struct {
		name         string
		data         []float32
		stride, size int
	}{{"X", im.X, im.XStride, inSize}, {"Y", im.Y, im.YStride, outSize}} {
		if im.N > 1 && b.stride < b.size {
			panic(fmt.Sprintf("kernels: WinogradF43.Conv: %sStride = %d is smaller than an "+
				"image of %d", b.name, b.stride, b.size))
		}
		if need := (im.N-1)*b.stride + b.size; len(b.data) < need {
			panic(fmt.Sprintf("kernels: WinogradF43.Conv: len(%s) = %d is too short for %d "+
				"images (want >= %d)", b.name, len(b.data), im.N, need))
		}
	}
}

// winoLayout is the order of the tiles of a Conv call: tile t = i*perImage + ty*tilesX + tx
// of image i. The input planes of one channel are copied into a zero-padded buffer of pw×ph
// floats per image, whose element (r, c) is pixel (r−pad, c−pad) of the plane, so that tile
// (ty, tx) starts at row 4·ty and column 4·tx. pw leaves room for the 8 floats that the input
// transform reads on each row of a tile, and ph for the 6 rows.
type winoLayout struct {
	oh, ow, tilesX, tilesY, perImage int
	pw, ph                           int
}

// newWinoLayout returns the tile layout of the images of im.
func newWinoLayout(im WinogradImages) winoLayout {
	l := winoLayout{oh: im.H + 2*im.Pad - 2, ow: im.W + 2*im.Pad - 2}
	l.tilesX, l.tilesY = ceilDiv(l.ow, winoTile), ceilDiv(l.oh, winoTile)
	l.perImage = l.tilesX * l.tilesY
	l.pw, l.ph = winoTile*l.tilesX+4, winoTile*l.tilesY+2
	return l
}

// preparePadded sizes and clears s.padded for n images and sets s.inOffs to the place of each
// of the given number of tiles in it. Tiles past the last image repeat its last tile.
func (l winoLayout) preparePadded(s *WinogradScratch, n, tiles int) {
	s.padded = grow(s.padded, n*l.pw*l.ph)
	clear(s.padded)
	s.inOffs = growInts(s.inOffs, tiles)
	for t := range s.inOffs {
		u := min(t, n*l.perImage-1)
		i, ty, tx := u/l.perImage, u%l.perImage/l.tilesX, u%l.tilesX
		s.inOffs[t] = i*l.pw*l.ph + winoTile*(ty*l.pw+tx)
	}
}

// fillPadded copies channel c of images [i0, i0+n) of im into padded, whose border
// preparePadded cleared.
func (l winoLayout) fillPadded(padded []float32, im WinogradImages, i0, n, c int) {
	plane := im.H * im.W
	for i := range n {
		x := im.X[(i0+i)*im.XStride+c*plane:][:plane]
		copyRows(padded[i*l.pw*l.ph+im.Pad*l.pw+im.Pad:], l.pw, x, im.W, im.H)
	}
}

// copyRows sets dst[y*ds+x] = src[y*w+x] for y < h and x < w, with the assembly copy where
// w is a multiple of 8. It panics if dst or src is too short.
func copyRows(dst []float32, ds int, src []float32, w, h int) {
	if w <= 0 || h <= 0 {
		return
	}
	_ = src[h*w-1]
	_ = dst[(h-1)*ds+w-1]
	if k := activeVector.Load(); k.copyRows != nil && w%8 == 0 && ds >= w {
		k.copyRows(dst, ds, src, w, h)
		return
	}
	for y := range h {
		copy(dst[y*ds:][:w], src[y*w:])
	}
}

// growInts is grow for a slice of ints.
func growInts(buf []int, n int) []int {
	if cap(buf) < n {
		return make([]int, n)
	}
	return buf[:n]
}

// fillRow sets dst[j] = row[first+j], or 0 where first+j is outside row.
func fillRow(dst, row []float32, first int) {
	lo := min(max(-first, 0), len(dst))
	hi := max(min(len(row)-first, len(dst)), lo)
	clear(dst[:lo])
	if hi > lo {
		copy(dst[lo:hi], row[first+lo:])
	}
	clear(dst[hi:])
}

// scatterRows writes, or adds, the output rows of the tiles of image i from rowsOut, whose
// rows are rs floats apart, into the oh×ow plane y, leaving out what lies past its edges.
func (l winoLayout) scatterRows(y, rowsOut []float32, rs, i int, accumulate bool) {
	oh, ow := l.oh, l.ow
	for ty := range l.tilesY {
		at := winoTile * (i*l.perImage + ty*l.tilesX)
		for r := range min(winoTile, oh-ty*winoTile) {
			src := rowsOut[r*rs+at:][:ow]
			dst := y[(ty*winoTile+r)*ow:][:ow]
			if !accumulate {
				copy(dst, src)
				continue
			}
			for j, v := range src {
				dst[j] += v
			}
		}
	}
}

// winoLane is the lane of tile k within its block of 8 in the transformed layout: the lanes
// hold the tiles in the order 0, 2, 4, 6, 1, 3, 5, 7.
var winoLane = [8]int{0, 4, 1, 5, 2, 6, 3, 7}

// winogradInputGeneric is the pure-Go twin of winogradInputAVX2.
func winogradInputGeneric(v []float32, ld int, x []float32, offs []int, rs, blocks int) {
	var d [winoElems]float32
	for g := range blocks {
		for k := range 8 {
			at := offs[8*g+k]
			for r := range winoInput {
				copy(d[r*winoInput:(r+1)*winoInput], x[at+r*rs:])
			}
			tv := transformInput(&d)
			for e, x := range tv {
				v[e*ld+8*g+winoLane[k]] = x
			}
		}
	}
}

// winogradOutputGeneric is the pure-Go twin of winogradOutputAVX2.
func winogradOutputGeneric(out []float32, offs []int, rs int, m []float32, ld, blocks int,
	bias float32, relu bool) {
	var tm [winoElems]float32
	for g := range blocks {
		for k := range 8 {
			for e := range tm {
				tm[e] = m[e*ld+8*g+winoLane[k]]
			}
			y := transformOutput(&tm)
			at := offs[8*g+k]
			for r := range winoTile {
				for c := range winoTile {
					v := y[r*winoTile+c] + bias
					if relu {
						v = max(v, 0)
					}
					out[at+r*rs+c] = v
				}
			}
		}
	}
}

// transformWeight returns G·g·Gᵀ of a 3×3 kernel, row-major.
func transformWeight(g *[9]float32) [winoElems]float32 {
	// Columns first: each column of g (3 values) becomes 6, then each of the 6 rows.
	var t [6 * 3]float32
	for c := range 3 {
		a := weightRow(g[c], g[3+c], g[6+c])
		for r := range 6 {
			t[r*3+c] = a[r]
		}
	}
	var u [winoElems]float32
	for r := range 6 {
		a := weightRow(t[r*3], t[r*3+1], t[r*3+2])
		copy(u[r*6:], a[:])
	}
	return u
}

// weightRow applies G to one 3-vector. It multiplies by rounded reciprocals, which is faster
// than dividing, because a training step transforms every 3×3 weight twice.
func weightRow(g0, g1, g2 float32) [6]float32 {
	const sixth, twelfth, twentyFourth = float32(1.0 / 6), float32(1.0 / 12), float32(1.0 / 24)
	return [6]float32{
		g0 * 0.25,
		-(g0 + g1 + g2) * sixth,
		-(g0 - g1 + g2) * sixth,
		g0*twentyFourth + g1*twelfth + g2*sixth,
		g0*twentyFourth - g1*twelfth + g2*sixth,
		g2,
	}
}

// transformInput returns Bᵀ·d·B of a 6×6 tile, row-major.
func transformInput(d *[winoElems]float32) [winoElems]float32 {
	var t, v [winoElems]float32
	for c := range 6 {
		a := inputRow(d[c], d[6+c], d[12+c], d[18+c], d[24+c], d[30+c])
		for r := range 6 {
			t[r*6+c] = a[r]
		}
	}
	for r := range 6 {
		a := inputRow(t[r*6], t[r*6+1], t[r*6+2], t[r*6+3], t[r*6+4], t[r*6+5])
		copy(v[r*6:], a[:])
	}
	return v
}

// inputRow applies Bᵀ to one 6-vector.
func inputRow(d0, d1, d2, d3, d4, d5 float32) [6]float32 {
	return [6]float32{
		4*d0 - 5*d2 + d4,
		-4*d1 - 4*d2 + d3 + d4,
		4*d1 - 4*d2 - d3 + d4,
		-2*d1 - d2 + 2*d3 + d4,
		2*d1 - d2 - 2*d3 + d4,
		4*d1 - 5*d3 + d5,
	}
}

// transformOutput returns Aᵀ·m·A of a 6×6 tile of products, a 4×4 tile, row-major.
func transformOutput(m *[winoElems]float32) [winoTile * winoTile]float32 {
	var t [winoTile * 6]float32
	for c := range 6 {
		a := outputRow(m[c], m[6+c], m[12+c], m[18+c], m[24+c], m[30+c])
		for r := range winoTile {
			t[r*6+c] = a[r]
		}
	}
	var y [winoTile * winoTile]float32
	for r := range winoTile {
		a := outputRow(t[r*6], t[r*6+1], t[r*6+2], t[r*6+3], t[r*6+4], t[r*6+5])
		copy(y[r*winoTile:], a[:])
	}
	return y
}

// outputRow applies Aᵀ to one 6-vector.
func outputRow(m0, m1, m2, m3, m4, m5 float32) [winoTile]float32 {
	return [winoTile]float32{
		m0 + m1 + m2 + m3 + m4,
		m1 - m2 + 2*m3 - 2*m4,
		m1 + m2 + 4*m3 + 4*m4,
		m1 - m2 + 8*m3 - 8*m4 + m5,
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// panelTiles is the width of the micro-panels of V, the nr of every GEMM kernel.
const panelTiles = 16
