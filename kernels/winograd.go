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
// matrices U[e] packed for SgemmPacked. It is read-only after NewWinogradF43 and can be shared
// by concurrent Conv calls, each with its own scratch.
type WinogradF43 struct {
	out, in int
	u       [winoElems]*PackedA
}

// NewWinogradF43 transforms the [out, in, 3, 3] weight w. It panics if w is too short.
func NewWinogradF43(w []float32, out, in int) *WinogradF43 {
	if out < 1 || in < 1 {
		panic(fmt.Sprintf("kernels: NewWinogradF43: %d output and %d input channels, want at "+
			"least 1", out, in))
	}
	if len(w) < out*in*9 {
		panic(fmt.Sprintf("kernels: NewWinogradF43: len(w) = %d is too short for %d×%d×3×3",
			len(w), out, in))
	}
	u := make([]float32, winoElems*out*in)
	for o := range out {
		for c := range in {
			var g [9]float32
			copy(g[:], w[(o*in+c)*9:])
			t := transformWeight(&g)
			for e, v := range t {
				u[(e*out+o)*in+c] = v
			}
		}
	}
	wg := &WinogradF43{out: out, in: in}
	for e := range wg.u {
		wg.u[e] = PackA(out, in, u[e*out*in:], in)
	}
	return wg
}

// WinogradScratch is the workspace of WinogradF43.Conv: the transformed input tiles and the
// products. One goroutine uses it at a time; it grows on demand and is reused after that.
type WinogradScratch struct {
	v, m []float32
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
	oh, ow := im.H+2*im.Pad-2, im.W+2*im.Pad-2
	tilesY, tilesX := ceilDiv(oh, winoTile), ceilDiv(ow, winoTile)
	perImage := tilesY * tilesX
	tiles := im.N * perImage
	if tiles == 0 {
		return
	}
	s.v = grow(s.v, winoElems*wg.in*tiles)
	s.m = grow(s.m, winoElems*wg.out*tiles)
	for i := range im.N {
		x := im.X[i*im.XStride:][:wg.in*im.H*im.W]
		for c := range wg.in {
			plane := x[c*im.H*im.W : (c+1)*im.H*im.W]
			transformInputPlane(s.v[c*tiles+i*perImage:], wg.in*tiles, plane, im.H, im.W,
				im.Pad, tilesY, tilesX)
		}
	}
	for e := range wg.u {
		SgemmPacked(wg.u[e], tiles, s.v[e*wg.in*tiles:], tiles, s.m[e*wg.out*tiles:], tiles,
			false)
	}
	for i := range im.N {
		y := im.Y[i*im.YStride:][:wg.out*oh*ow]
		for o := range wg.out {
			var bias float32
			if im.Bias != nil {
				bias = im.Bias[o]
			}
			plane := y[o*oh*ow : (o+1)*oh*ow]
			transformOutputPlane(plane, oh, ow, s.m[o*tiles+i*perImage:], wg.out*tiles,
				tilesY, tilesX, bias, im.ReLU, im.Accumulate)
		}
	}
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

// transformInputPlane writes Bᵀ·d·B of every 6×6 input tile of one h×w plane: element e of
// tile t goes to v[e*ld + t]. Tiles start every 4 pixels from (−pad, −pad), and pixels outside
// the plane are zero.
func transformInputPlane(v []float32, ld int, plane []float32, h, w, pad, tilesY,
	tilesX int) {
	var d [winoElems]float32
	for ty := range tilesY {
		y0 := ty*winoTile - pad
		for tx := range tilesX {
			x0 := tx*winoTile - pad
			if y0 >= 0 && x0 >= 0 && y0+winoInput <= h && x0+winoInput <= w {
				for r := range winoInput {
					copy(d[r*winoInput:(r+1)*winoInput], plane[(y0+r)*w+x0:])
				}
			} else {
				loadEdgeTile(&d, plane, h, w, y0, x0)
			}
			t := transformInput(&d)
			at := ty*tilesX + tx
			for e, x := range t {
				v[e*ld+at] = x
			}
		}
	}
}

// loadEdgeTile copies the 6×6 tile at (y0, x0) of an h×w plane into d, with zeros outside the
// plane.
func loadEdgeTile(d *[winoElems]float32, plane []float32, h, w, y0, x0 int) {
	for r := range winoInput {
		y := y0 + r
		for c := range winoInput {
			x := x0 + c
			if y >= 0 && y < h && x >= 0 && x < w {
				d[r*winoInput+c] = plane[y*w+x]
			} else {
				d[r*winoInput+c] = 0
			}
		}
	}
}

// transformOutputPlane computes Aᵀ·M·A of every tile of one output plane, from element e of
// tile t at m[e*ld + t], and writes, or adds, the 4×4 results that lie inside the oh×ow plane.
func transformOutputPlane(plane []float32, oh, ow int, m []float32, ld, tilesY, tilesX int,
	bias float32, relu, accumulate bool) {
	var tm [winoElems]float32
	for ty := range tilesY {
		for tx := range tilesX {
			at := ty*tilesX + tx
			for e := range tm {
				tm[e] = m[e*ld+at]
			}
			out := transformOutput(&tm)
			y0, x0 := ty*winoTile, tx*winoTile
			rows, cols := min(winoTile, oh-y0), min(winoTile, ow-x0)
			for r := range rows {
				dst := plane[(y0+r)*ow+x0:][:cols]
				for c := range dst {
					v := out[r*winoTile+c]
					switch {
					case accumulate:
						dst[c] += v
					case relu:
						dst[c] = max(v+bias, 0)
					default:
						dst[c] = v + bias
					}
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

// weightRow applies G to one 3-vector.
func weightRow(g0, g1, g2 float32) [6]float32 {
	return [6]float32{
		g0 / 4,
		-(g0 + g1 + g2) / 6,
		-(g0 - g1 + g2) / 6,
		g0/24 + g1/12 + g2/6,
		g0/24 - g1/12 + g2/6,
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
