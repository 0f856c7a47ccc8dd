package kernels

import "fmt"

// WinogradF43WeightGrad adds to dw the weight gradient of a 3×3, stride-1 convolution from
// in to out channels, computed in the Winograd domain of F(4×4, 3×3). For each of the 36
// elements e, dU[e] = Σ_tiles (A·dY·Aᵀ)[e] · (Bᵀ·d·B)[e]ᵀ is one dot-product GEMM, and then
// dw = Gᵀ·dU·G for each pair of channels. In im, X holds the inputs and Y the output
// gradients; Bias, ReLU and Accumulate must be unset. dw is [out, in, 3, 3]. The images go
// through the GEMMs in groups of about groupTiles tiles. It panics on invalid arguments.
func WinogradF43WeightGrad(dw []float32, out, in int, s *WinogradScratch, im WinogradImages,
	groupTiles int) {
	if out < 1 || in < 1 {
		panic(fmt.Sprintf("kernels: WinogradF43WeightGrad: %d output and %d input channels, "+
			"want at least 1", out, in))
	}
	checkLen("WinogradF43WeightGrad", "dw", len(dw), out*in*9)
	shape := &WinogradF43{out: out, in: in}
	shape.check(im)
	if im.Bias != nil || im.ReLU || im.Accumulate {
		panic("kernels: WinogradF43WeightGrad: Bias, ReLU and Accumulate must be unset")
	}
	if im.N == 0 {
		return
	}
	impl := activeGemm.Load()
	l := newWinoLayout(im)
	group := max(1, min(im.N, groupTiles/l.perImage))
	s.du = grow(s.du, winoElems*out*in)
	clear(s.du)
	outPlane := l.oh * l.ow
	for i0 := 0; i0 < im.N; i0 += group {
		n := min(group, im.N-i0)
		tiles := roundUp(n*l.perImage, 8)
		rs := winoTile * tiles
		ld := shape.strides(tiles)
		s.v = grow(s.v, winoElems*ld.v)
		s.m = grow(s.m, winoElems*ld.m)
		s.rowsOut = grow(s.rowsOut, winoTile*rs)
		// The tiles past the last image repeat its last input tile and have zero gradients,
		// so they add nothing.
		used := winoTile * n * l.perImage
		for r := range winoTile {
			clear(s.rowsOut[r*rs+used : (r+1)*rs])
		}
		l.preparePadded(s, n, tiles)
		for c := range in {
			l.fillPadded(s.padded, im, i0, n, c)
			impl.winoInput(s.v[c*tiles:], ld.v, s.padded, s.inOffs, l.pw, tiles/8)
		}
		for o := range out {
			for i := range n {
				dy := im.Y[(i0+i)*im.YStride+o*outPlane:][:outPlane]
				l.gatherOutputRows(s.rowsOut, rs, dy, i)
			}
			impl.winoGrad(s.m[o*tiles:], ld.m, s.rowsOut, rs, tiles/8)
		}
		for e := range winoElems {
			SgemmNT(out, in, tiles, s.m[e*ld.m:], tiles, s.v[e*ld.v:], tiles,
				s.du[e*out*in:], in, true)
		}
	}
	var du [winoElems]float32
	for o := range out {
		for c := range in {
			for e := range du {
				du[e] = s.du[(e*out+o)*in+c]
			}
			g := transformWeightGrad(&du)
			dst := dw[(o*in+c)*9:][:9]
			for k, v := range g {
				dst[k] += v
			}
		}
	}
}

// gatherOutputRows copies the rows of the 4×4 output tiles of image i from the oh×ow plane y
// into rows, whose rows are rs floats apart, with zeros past the edges of the plane.
func (l winoLayout) gatherOutputRows(rows []float32, rs int, y []float32, i int) {
	width := winoTile * l.tilesX
	for ty := range l.tilesY {
		at := winoTile * (i*l.perImage + ty*l.tilesX)
		for r := range winoTile {
			dst := rows[r*rs+at:][:width]
			if yy := ty*winoTile + r; yy < l.oh {
				fillRow(dst, y[yy*l.ow:(yy+1)*l.ow], 0)
			} else {
				clear(dst)
			}
		}
	}
}

// winogradGradGeneric is the pure-Go twin of winogradGradAVX2.
func winogradGradGeneric(dm []float32, ld int, rows []float32, rs, blocks int) {
	var y [winoTile * winoTile]float32
	for g := range blocks {
		for k := range 8 {
			t := 8*g + k
			for r := range winoTile {
				copy(y[r*winoTile:(r+1)*winoTile], rows[r*rs+winoTile*t:])
			}
			z := transformGrad(&y)
			for e, v := range z {
				dm[e*ld+8*g+winoLane[k]] = v
			}
		}
	}
}

// transformGrad returns A·y·Aᵀ of a 4×4 tile, a 6×6 tile, row-major.
func transformGrad(y *[winoTile * winoTile]float32) [winoElems]float32 {
	var t [6 * winoTile]float32
	for c := range winoTile {
		a := gradRow(y[c], y[4+c], y[8+c], y[12+c])
		for r := range 6 {
			t[r*winoTile+c] = a[r]
		}
	}
	var z [winoElems]float32
	for r := range 6 {
		a := gradRow(t[r*4], t[r*4+1], t[r*4+2], t[r*4+3])
		copy(z[r*6:], a[:])
	}
	return z
}

// gradRow applies A to one 4-vector.
func gradRow(y0, y1, y2, y3 float32) [6]float32 {
	return [6]float32{
		y0,
		y0 + y1 + y2 + y3,
		y0 - y1 + y2 - y3,
		y0 + 2*y1 + 4*y2 + 8*y3,
		y0 - 2*y1 + 4*y2 - 8*y3,
		y3,
	}
}

// transformWeightGrad returns Gᵀ·du·G of a 6×6 tile, a 3×3 kernel gradient, row-major.
func transformWeightGrad(du *[winoElems]float32) [9]float32 {
	var t [3 * 6]float32
	for c := range 6 {
		a := weightGradRow(du[c], du[6+c], du[12+c], du[18+c], du[24+c], du[30+c])
		for r := range 3 {
			t[r*6+c] = a[r]
		}
	}
	var g [9]float32
	for r := range 3 {
		a := weightGradRow(t[r*6], t[r*6+1], t[r*6+2], t[r*6+3], t[r*6+4], t[r*6+5])
		copy(g[r*3:], a[:])
	}
	return g
}

// weightGradRow applies Gᵀ to one 6-vector.
func weightGradRow(u0, u1, u2, u3, u4, u5 float32) [3]float32 {
	return [3]float32{
		u0/4 - (u1+u2)/6 + (u3+u4)/24,
		(u2-u1)/6 + (u3-u4)/12,
		-(u1+u2)/6 + (u3+u4)/6 + u5,
	}
}
