package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

// convGeometries are the convolutions that the implicit im2col tests try: odd sizes,
// strides, uneven padding, 1×1 kernels, and one with more than gemmKC rows.
var convGeometries = []ConvGeometry{
	{C: 3, H: 5, W: 7, KH: 3, KW: 3, PadH: 1, PadW: 1, StrideH: 1, StrideW: 1},
	{C: 2, H: 9, W: 6, KH: 3, KW: 3, PadH: 1, PadW: 1, StrideH: 2, StrideW: 2},
	{C: 4, H: 8, W: 8, KH: 1, KW: 1, StrideH: 1, StrideW: 1},
	{C: 5, H: 13, W: 11, KH: 3, KW: 5, PadH: 2, PadW: 1, StrideH: 1, StrideW: 2},
	{C: 1, H: 1, W: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1},
	{C: 3, H: 4, W: 20, KH: 3, KW: 3, PadW: 2, StrideH: 1, StrideW: 3},
	{C: 30, H: 8, W: 8, KH: 3, KW: 3, PadH: 1, PadW: 1, StrideH: 1, StrideW: 1},
	{C: 2, H: 32, W: 32, KH: 3, KW: 3, PadH: 1, PadW: 1, StrideH: 1, StrideW: 1},
}

// explicitColumns returns the column matrix of x written by Im2col.
func explicitColumns(x []float32, g ConvGeometry) []float32 {
	col := make([]float32, g.Rows()*g.Cols())
	Im2col(col, x, g.C, g.H, g.W, g.KH, g.KW, g.PadH, g.PadW, g.StrideH, g.StrideW)
	return col
}

// naiveConvColumn returns Σ_r a[i][r]·im2col(x)[r][col] in float64, from the image directly.
func naiveConvColumn(a []float32, lda, i int, x []float32, g ConvGeometry, col int) float64 {
	oy, ox := col/g.OutW(), col%g.OutW()
	var sum float64
	for r := range g.Rows() {
		ci, ky, kx := r/(g.KH*g.KW), r/g.KW%g.KH, r%g.KW
		iy, ix := oy*g.StrideH-g.PadH+ky, ox*g.StrideW-g.PadW+kx
		if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
			sum += float64(a[i*lda+r]) * float64(x[(ci*g.H+iy)*g.W+ix])
		}
	}
	return sum
}

func TestSgemmIm2col(t *testing.T) {
	forEachPath(t, func(t *testing.T, impl *gemmImpl) {
		rng := rand.New(rand.NewPCG(51, 52))
		for _, g := range convGeometries {
			x := guardedVector(g.C*g.H*g.W, uniform(rng))
			col := explicitColumns(x.data(), g)
			cols := g.Cols()
			for _, m := range []int{1, 7, 13} {
				a := make([]float32, m*g.Rows())
				for i := range a {
					a[i] = rng.Float32()*2 - 1
				}
				p := PackA(m, g.Rows(), a, g.Rows())
				for _, span := range [][2]int{{0, cols}, {min(5, cols), max(cols-3, min(5, cols))}} {
					col0, n := span[0], span[1]-span[0]
					for _, accumulate := range []bool{false, true} {
						label := fmt.Sprintf("SgemmIm2col %+v m=%d columns [%d,%d) acc=%v", g, m,
							col0, col0+n, accumulate)
						got := newGuarded(m, n, n+3, uniform(rng))
						want := newGuarded(m, n, n+3, nil)
						copy(want.buf, got.buf)
						SgemmIm2col(p, x.data(), g, col0, n, got.data(), n+3, accumulate)
						if n > 0 {
							SgemmPacked(p, n, col[col0:], cols, want.data(), n+3, accumulate)
						}
						got.checkUnchanged(t, "C outside the matrix", true, label)
						x.checkUnchanged(t, "x", false, label)
						for i := range m {
							for j := range n {
								if math.Float32bits(got.at(i, j)) != math.Float32bits(want.at(i, j)) {
									t.Fatalf("%s: C[%d,%d] = %v, Im2col and SgemmPacked give %v",
										label, i, j, got.at(i, j), want.at(i, j))
								}
								ref := naiveConvColumn(a, g.Rows(), i, x.data(), g, col0+j)
								if accumulate {
									ref += float64(got.initial(i, j))
								}
								if math.Abs(float64(got.at(i, j))-ref) > 1e-5*float64(g.Rows()+1) {
									t.Fatalf("%s: C[%d,%d] = %v, want %v", label, i, j,
										got.at(i, j), ref)
								}
							}
						}
					}
				}
			}
		}
	})
}

func TestSgemmIm2colAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop the GEMM workspaces at random")
	}
	g := convGeometries[0]
	x := make([]float32, g.C*g.H*g.W)
	p := PackA(4, g.Rows(), make([]float32, 4*g.Rows()), g.Rows())
	c := make([]float32, 4*g.Cols())
	SgemmIm2col(p, x, g, 0, g.Cols(), c, g.Cols(), false)
	allocs := testing.AllocsPerRun(20, func() {
		SgemmIm2col(p, x, g, 0, g.Cols(), c, g.Cols(), false)
	})
	assert.Zero(t, allocs)
}

func TestSgemmIm2colPanics(t *testing.T) {
	g := convGeometries[0]
	x := make([]float32, g.C*g.H*g.W)
	p := PackA(2, g.Rows(), make([]float32, 2*g.Rows()), g.Rows())
	c := make([]float32, 2*g.Cols())
	assert.PanicsWithValue(t, "kernels: SgemmIm2col: columns [30, 36) are outside [0, 35)",
		func() { SgemmIm2col(p, x, g, 30, 6, c, 6, false) })
	assert.PanicsWithValue(t, "kernels: SgemmIm2col: p has 27 columns, the column matrix 18 rows",
		func() {
			SgemmIm2col(p, x, ConvGeometry{C: 2, H: 5, W: 7, KH: 3, KW: 3, PadH: 1,
				PadW: 1, StrideH: 1, StrideW: 1}, 0, 35, c, 35, false)
		})
	assert.PanicsWithValue(t, "kernels: SgemmIm2col: len(x) = 104 is too short for a "+
		"3×5×7 image (want >= 105)",
		func() { SgemmIm2col(p, x[:104], g, 0, 35, c, 35, false) })
}
