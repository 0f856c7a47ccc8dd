package kernels

import "fmt"

// ConvGeometry is the shape of a 2-D convolution over one CHW image: C input channels of
// H×W pixels, a KH×KW kernel, and zero padding and stride along each axis.
type ConvGeometry struct {
	C, H, W          int
	KH, KW           int
	PadH, PadW       int
	StrideH, StrideW int
}

// OutH returns the output height, ConvOutputSize(H, KH, PadH, StrideH).
func (g ConvGeometry) OutH() int { return ConvOutputSize(g.H, g.KH, g.PadH, g.StrideH) }

// OutW returns the output width, ConvOutputSize(W, KW, PadW, StrideW).
func (g ConvGeometry) OutW() int { return ConvOutputSize(g.W, g.KW, g.PadW, g.StrideW) }

// Rows returns C·KH·KW, the number of rows of the image's column matrix (see Im2col).
func (g ConvGeometry) Rows() int { return g.C * g.KH * g.KW }

// Cols returns OutH·OutW, the number of columns of the image's column matrix.
func (g ConvGeometry) Cols() int { return g.OutH() * g.OutW() }

// check panics unless g is a valid convolution and x holds its image.
func (g ConvGeometry) check(op string, x []float32) {
	if g.C < 0 || g.H < 0 || g.W < 0 {
		panic(fmt.Sprintf("kernels: %s: negative image size c=%d, h=%d, w=%d", op, g.C, g.H,
			g.W))
	}
	if g.KH < 1 || g.KW < 1 {
		panic(fmt.Sprintf("kernels: %s: kernel size %d×%d, want at least 1×1", op, g.KH, g.KW))
	}
	if g.PadH < 0 || g.PadW < 0 {
		panic(fmt.Sprintf("kernels: %s: negative padding padH=%d, padW=%d", op, g.PadH, g.PadW))
	}
	if g.StrideH < 1 || g.StrideW < 1 {
		panic(fmt.Sprintf("kernels: %s: stride %d×%d, want at least 1×1", op, g.StrideH,
			g.StrideW))
	}
	if g.H+2*g.PadH < g.KH || g.W+2*g.PadW < g.KW {
		panic(fmt.Sprintf("kernels: %s: kernel %d×%d is larger than the padded %d×%d image", op,
			g.KH, g.KW, g.H+2*g.PadH, g.W+2*g.PadW))
	}
	if need := g.C * g.H * g.W; len(x) < need {
		panic(fmt.Sprintf("kernels: %s: len(x) = %d is too short for a %d×%d×%d image "+
			"(want >= %d)", op, len(x), g.C, g.H, g.W, need))
	}
}

// SgemmIm2col computes columns [col0, col0+n) of P·im2col(x), or adds them to C, where
// im2col(x) is the g.Rows()×g.Cols() matrix that Im2col writes for the image x. It packs the
// micro-panels of B straight from x, so the column matrix is never written. C is m×n with row
// stride ldc, m = p.Rows(), and p.Cols() must equal g.Rows(). The rules on C, concurrency and
// panics are those of SgemmPacked.
func SgemmIm2col(p *PackedA, x []float32, g ConvGeometry, col0, n int, c []float32, ldc int,
	accumulate bool) {
	if p == nil {
		panic("kernels: SgemmIm2col: p is nil, want a matrix from PackA")
	}
	g.check("SgemmIm2col", x)
	if p.k != g.Rows() {
		panic(fmt.Sprintf("kernels: SgemmIm2col: p has %d columns, the column matrix %d rows",
			p.k, g.Rows()))
	}
	if col0 < 0 || n < 0 || col0+n > g.Cols() {
		panic(fmt.Sprintf("kernels: SgemmIm2col: columns [%d, %d) are outside [0, %d)", col0,
			col0+n, g.Cols()))
	}
	checkMatrix("SgemmIm2col", "c", "ldc", c, p.m, n, ldc)
	s := gemmScratchPool.Get().(*gemmScratch)
	defer s.release()
	s.im2col = im2colB{x: x, g: g, outW: g.OutW(), col0: col0}
	sgemmPacked("SgemmIm2col", p, n, &s.im2col, c, ldc, accumulate, s)
}

// im2colB is the column matrix of the image x as a B operand: column j of B is column col0+j
// of the column matrix.
type im2colB struct {
	x    []float32
	g    ConvGeometry
	outW int
	col0 int
}

func (s *im2colB) panel(dst []float32, pc, kc, jr, nc, nr int) ([]float32, int) {
	g := s.g
	// The nc pixels of the panel, split at the ends of output rows.
	var segs [16]pixelRun
	runs := pixelRuns(segs[:0], s.col0+jr, nc, s.outW)
	ci, ky, kx := kernelTap(pc, g)
	for p := 0; p < kc; p++ {
		out := dst[p*nr : (p+1)*nr]
		plane := s.x[ci*g.H*g.W : (ci+1)*g.H*g.W]
		j := 0
		for _, r := range runs {
			seg := out[j : j+r.n]
			j += r.n
			iy := r.oy*g.StrideH - g.PadH + ky
			if iy < 0 || iy >= g.H {
				clear(seg)
				continue
			}
			in := plane[iy*g.W : (iy+1)*g.W]
			if g.StrideW != 1 {
				for t := range seg {
					seg[t] = 0
					if ix := (r.ox+t)*g.StrideW - g.PadW + kx; ix >= 0 && ix < g.W {
						seg[t] = in[ix]
					}
				}
				continue
			}
			ix := r.ox - g.PadW + kx
			lo, hi := max(0, -ix), min(r.n, g.W-ix)
			if hi <= lo {
				clear(seg)
				continue
			}
			copyRun(seg, in[ix+lo:ix+hi], lo)
		}
		clear(out[nc:])
		if kx++; kx == g.KW {
			kx = 0
			if ky++; ky == g.KH {
				ky = 0
				ci++
			}
		}
	}
	return dst, nr
}

// copyRun sets seg[lo:lo+len(src)] to src and the rest of seg to zero. The runs of 16 and 8
// pixels of the network's 3×3 convolutions, with one padding pixel or none, are copied as
// fixed-size arrays through locals. The compiler moves those inline, where copy, or an array
// assigned straight from one slice to another, calls memmove.
func copyRun(seg, src []float32, lo int) {
	switch {
	case len(seg) == 16 && len(src) == 16:
		v := *(*[16]float32)(src)
		*(*[16]float32)(seg) = v
	case len(seg) == 16 && len(src) == 15:
		// Two overlapping 8-element moves.
		head, tail := *(*[8]float32)(src), *(*[8]float32)(src[7:])
		*(*[8]float32)(seg[lo:]) = head
		*(*[8]float32)(seg[lo+7:]) = tail
		seg[15*(1-lo)] = 0
	case len(seg) == 8 && len(src) == 8:
		v := *(*[8]float32)(src)
		*(*[8]float32)(seg) = v
	case len(seg) == 8 && len(src) == 7:
		head, tail := *(*[4]float32)(src), *(*[4]float32)(src[3:])
		*(*[4]float32)(seg[lo:]) = head
		*(*[4]float32)(seg[lo+3:]) = tail
		seg[7*(1-lo)] = 0
	default:
		clear(seg[:lo])
		copy(seg[lo:], src)
		clear(seg[lo+len(src):])
	}
}

// pixelRun is a run of n consecutive output pixels in one output row, from (oy, ox).
type pixelRun struct{ oy, ox, n int }

// pixelRuns appends the runs of the n output pixels from index first, in rows of outW.
func pixelRuns(runs []pixelRun, first, n, outW int) []pixelRun {
	oy, ox := first/outW, first%outW
	for n > 0 {
		r := pixelRun{oy: oy, ox: ox, n: min(n, outW-ox)}
		runs = append(runs, r)
		n -= r.n
		oy, ox = oy+1, 0
	}
	return runs
}

// kernelTap returns the input channel and kernel position of row r of the column matrix.
func kernelTap(r int, g ConvGeometry) (ci, ky, kx int) {
	taps := g.KH * g.KW
	return r / taps, r % taps / g.KW, r % g.KW
}
