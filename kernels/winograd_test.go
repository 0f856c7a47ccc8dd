package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// naiveConv3x3 returns output (o, y, x) of a stride-1 3×3 convolution of one image in float64,
// and the sum of the magnitudes of its terms, which bounds the rounding error.
func naiveConv3x3(w, x []float32, in, h, wd, pad, o, y, xo int) (sum, scale float64) {
	for c := range in {
		for ky := range 3 {
			for kx := range 3 {
				iy, ix := y-pad+ky, xo-pad+kx
				if iy < 0 || iy >= h || ix < 0 || ix >= wd {
					continue
				}
				p := float64(w[((o*in+c)*3+ky)*3+kx]) * float64(x[(c*h+iy)*wd+ix])
				sum += p
				scale += math.Abs(p)
			}
		}
	}
	return sum, scale
}

func TestWinogradF43(t *testing.T) {
	forEachPath(t, func(t *testing.T, impl *gemmImpl) {
		checkWinogradF43(t, NewWinogradF43, 1e-5)
	})
}

// TestWinogradF43BF16 checks the bf16 products of the Winograd path against the float64
// direct convolution. The transforms multiply the bf16 rounding of the tiles, so the worst
// output of these cases is off by 6.9 % of the sum of the magnitudes of its terms (plus 1).
func TestWinogradF43BF16(t *testing.T) {
	forEachBF16Path(t, func(t *testing.T, impl *bf16GemmImpl) {
		checkWinogradF43(t, NewWinogradF43BF16, 0.1)
	})
}

// checkWinogradF43 runs Conv on odd sizes, paddings and epilogues with the weight made by
// newWG. An output may differ from the float64 direct convolution by at most tol times
// (the sum of the magnitudes of its terms plus 1), and guard values must not change.
func checkWinogradF43(t *testing.T, newWG func(w []float32, out, in int) *WinogradF43,
	tol float64) {
	rng := rand.New(rand.NewPCG(71, 72))
	cases := []struct{ n, in, out, h, w, pad int }{
		{1, 1, 1, 1, 1, 1}, {1, 3, 5, 4, 4, 1}, {2, 2, 3, 7, 9, 1}, {3, 5, 2, 8, 8, 1},
		{1, 4, 4, 6, 5, 0}, {2, 3, 3, 5, 6, 2}, {1, 17, 6, 13, 11, 1}, {2, 8, 16, 32, 32, 1},
	}
	for _, tc := range cases {
		oh, ow := tc.h+2*tc.pad-2, tc.w+2*tc.pad-2
		inSize, outSize := tc.in*tc.h*tc.w, tc.out*oh*ow
		w := make([]float32, tc.out*tc.in*9)
		for i := range w {
			w[i] = rng.Float32() - 0.5
		}
		bias := make([]float32, tc.out)
		for i := range bias {
			bias[i] = rng.Float32() - 0.5
		}
		wg := newWG(w, tc.out, tc.in)
		// Strides one element longer than an image leave sentinel gaps between images.
		x := guardedVector(tc.n*(inSize+1), uniform(rng))
		for _, mode := range []string{"plain", "bias+relu", "accumulate"} {
			label := fmt.Sprintf("%+v %s", tc, mode)
			y := guardedVector(tc.n*(outSize+1), uniform(rng))
			im := WinogradImages{X: x.data(), XStride: inSize + 1, Y: y.data(),
				YStride: outSize + 1, N: tc.n, H: tc.h, W: tc.w, Pad: tc.pad}
			switch mode {
			case "bias+relu":
				im.Bias, im.ReLU = bias, true
			case "accumulate":
				im.Accumulate = true
			}
			var s WinogradScratch
			wg.Conv(&s, im)
			x.checkUnchanged(t, "x", false, label)
			for i := range tc.n {
				for o := range tc.out {
					for r := range oh {
						for c := range ow {
							at := i*(outSize+1) + (o*oh+r)*ow + c
							want, scale := naiveConv3x3(w, x.data()[i*(inSize+1):], tc.in,
								tc.h, tc.w, tc.pad, o, r, c)
							switch mode {
							case "bias+relu":
								want = math.Max(want+float64(bias[o]), 0)
							case "accumulate":
								want += float64(y.initial(0, at))
							}
							got := float64(y.at(0, at))
							if math.Abs(got-want) > tol*(scale+1) {
								t.Fatalf("%s: y[%d][%d][%d][%d] = %v, want %v", label, i, o,
									r, c, got, want)
							}
						}
					}
				}
				// The gap after each image keeps its sentinel.
				gap := (i+1)*(outSize+1) - 1
				if math.Float32bits(y.at(0, gap)) != math.Float32bits(y.initial(0, gap)) &&
					mode != "accumulate" {
					t.Fatalf("%s: the gap after image %d was written", label, i)
				}
			}
		}
	}
}

func TestWinogradF43Allocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop the GEMM workspaces at random")
	}
	wg := NewWinogradF43(make([]float32, 4*3*9), 4, 3)
	x, y := make([]float32, 2*3*8*8), make([]float32, 2*4*8*8)
	im := WinogradImages{X: x, XStride: 3 * 64, Y: y, YStride: 4 * 64, N: 2, H: 8, W: 8, Pad: 1}
	var s WinogradScratch
	wg.Conv(&s, im)
	assert.Zero(t, testing.AllocsPerRun(10, func() { wg.Conv(&s, im) }))
}

func TestWinogradF43Panics(t *testing.T) {
	wg := NewWinogradF43(make([]float32, 2*2*9), 2, 2)
	x, y := make([]float32, 2*16), make([]float32, 2*16)
	assert.PanicsWithValue(t, "kernels: WinogradF43.Conv: 1 images of 4×4 with padding 3, "+
		"want a padding from 0 to 2 and a padded image of at least 3×3",
		func() { wg.Conv(&WinogradScratch{}, WinogradImages{X: x, Y: y, N: 1, H: 4, W: 4, Pad: 3}) })
	assert.PanicsWithValue(t, "kernels: WinogradF43.Conv: len(Y) = 32 is too short for 2 "+
		"images (want >= 64)",
		func() {
			wg.Conv(&WinogradScratch{}, WinogradImages{X: make([]float32, 64), XStride: 32,
				Y: y, YStride: 32, N: 2, H: 4, W: 4, Pad: 1})
		})
}

// TestWinogradTransformsMatchTwin runs every path's tile transforms on tiles at random
// places, read from and written to buffers with guard bands, and compares them with the
// pure-Go twins.
func TestWinogradTransformsMatchTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(73, 74))
	const blocks, rs, ld = 3, 4*8*3 + 5, 8*3 + 3
	x := guardedVector(winoInput*rs, uniform(rng))
	rows := guardedVector(winoTile*rs, uniform(rng))
	m := guardedVector(winoElems*ld, uniform(rng))
	// Input tiles may overlap. Output tiles get distinct places, with gaps between some.
	inOffs, outOffs := make([]int, 8*blocks), make([]int, 8*blocks)
	for k, p := range rng.Perm(8 * blocks) {
		inOffs[k] = rng.IntN(rs - 8)
		outOffs[k] = 4*p + p/8
	}

	wantV := guardedVector(winoElems*ld, nil)
	wantOut := guardedVector(winoTile*rs, nil)
	wantDM := guardedVector(winoElems*ld, nil)
	genericGemm.winoInput(wantV.data(), ld, x.data(), inOffs, rs, blocks)
	genericGemm.winoOutput(wantOut.data(), outOffs, rs, m.data(), ld, blocks, 0.25, true)
	genericGemm.winoGrad(wantDM.data(), ld, rows.data(), rs, blocks)

	for _, impl := range gemmImpls() {
		v := guardedVector(winoElems*ld, nil)
		out := guardedVector(winoTile*rs, nil)
		dm := guardedVector(winoElems*ld, nil)
		impl.winoInput(v.data(), ld, x.data(), inOffs, rs, blocks)
		impl.winoOutput(out.data(), outOffs, rs, m.data(), ld, blocks, 0.25, true)
		impl.winoGrad(dm.data(), ld, rows.data(), rs, blocks)

		for _, c := range []struct {
			name      string
			got, want *guarded
		}{{"input transform", v, wantV}, {"output transform", out, wantOut},
			{"gradient transform", dm, wantDM}} {
			for i := range c.want.buf {
				g, w := c.got.buf[i], c.want.buf[i]
				if math.IsNaN(float64(w)) != math.IsNaN(float64(g)) ||
					math.Abs(float64(g-w)) > 1e-5*(1+math.Abs(float64(w))) {
					t.Fatalf("%s %s: buffer[%d] = %v, the pure-Go twin gives %v", impl.name,
						c.name, i, g, w)
				}
			}
		}
	}
}

func TestWinogradF43WeightGrad(t *testing.T) {
	forEachPath(t, func(t *testing.T, impl *gemmImpl) {
		rng := rand.New(rand.NewPCG(75, 76))
		cases := []struct{ n, in, out, h, w, pad, group int }{
			{1, 1, 1, 1, 1, 1, 128}, {2, 3, 5, 4, 4, 1, 128}, {3, 2, 3, 7, 9, 1, 20},
			{2, 5, 2, 8, 8, 1, 4}, {1, 4, 4, 6, 5, 0, 128}, {2, 3, 3, 5, 6, 2, 128},
			{2, 8, 16, 32, 32, 1, 64},
		}
		for _, tc := range cases {
			oh, ow := tc.h+2*tc.pad-2, tc.w+2*tc.pad-2
			inSize, outSize := tc.in*tc.h*tc.w, tc.out*oh*ow
			x := guardedVector(tc.n*(inSize+1), uniform(rng))
			dy := guardedVector(tc.n*(outSize+1), uniform(rng))
			dw := guardedVector(tc.out*tc.in*9, uniform(rng))
			im := WinogradImages{X: x.data(), XStride: inSize + 1, Y: dy.data(),
				YStride: outSize + 1, N: tc.n, H: tc.h, W: tc.w, Pad: tc.pad}
			var s WinogradScratch
			WinogradF43WeightGrad(dw.data(), tc.out, tc.in, &s, im, tc.group)
			label := fmt.Sprintf("%+v", tc)
			dw.checkUnchanged(t, "dw outside the kernel", true, label)
			x.checkUnchanged(t, "x", false, label)
			dy.checkUnchanged(t, "dy", false, label)
			for o := range tc.out {
				for c := range tc.in {
					for k := range 9 {
						ky, kx := k/3, k%3
						want, scale := float64(dw.initial(0, (o*tc.in+c)*9+k)), 1.0
						for i := range tc.n {
							for r := range oh {
								for q := range ow {
									iy, ix := r-tc.pad+ky, q-tc.pad+kx
									if iy < 0 || iy >= tc.h || ix < 0 || ix >= tc.w {
										continue
									}
									p := float64(dy.data()[i*(outSize+1)+(o*oh+r)*ow+q]) *
										float64(x.data()[i*(inSize+1)+(c*tc.h+iy)*tc.w+ix])
									want += p
									scale += math.Abs(p)
								}
							}
						}
						got := float64(dw.at(0, (o*tc.in+c)*9+k))
						if math.Abs(got-want) > 2e-5*scale {
							t.Fatalf("%s: dw[%d][%d][%d] = %v, want %v", label, o, c, k, got,
								want)
						}
					}
				}
			}
		}
	})
}

// TestNewWinogradF43PacksLikePackA checks that the transformed kernels, written straight to
// their packed places, match PackA of the transformed matrices, also past one block of
// gemmKC input channels and with rows short of a whole panel.
func TestNewWinogradF43PacksLikePackA(t *testing.T) {
	rng := rand.New(rand.NewPCG(75, 76))
	forEachPath(t, func(t *testing.T, impl *gemmImpl) {
		for _, shape := range [][2]int{{3, 5}, {19, 300}, {16, 2*gemmKC + 1}} {
			out, in := shape[0], shape[1]
			w := make([]float32, out*in*9)
			for i := range w {
				w[i] = rng.Float32() - 0.5
			}
			wg := NewWinogradF43(w, out, in)
			u := winogradWeight("test", w, out, in)
			for e := range winoElems {
				want := PackA(out, in, u[e*out*in:], in)
				require.Equal(t, want.data, wg.u[e].data, "out=%d in=%d element %d", out, in, e)
			}
		}
	})
}

// TestCopyRows checks the strided row copy on every vector path against element-by-element
// copies, with guard values around and between the destination rows.
func TestCopyRows(t *testing.T) {
	forEachVectorPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(61, 62))
		for _, w := range []int{1, 7, 8, 13, 16, 24, 32, 40} {
			for _, h := range []int{1, 2, 5, 33} {
				for _, ds := range []int{w, w + 1, w + 9} {
					src := guardedVector(h*w, uniform(rng))
					dst := newGuarded(h, w, ds, nil)
					copyRows(dst.data(), ds, src.data(), w, h)
					label := fmt.Sprintf("w=%d h=%d ds=%d", w, h, ds)
					src.checkUnchanged(t, "src", false, label)
					dst.checkUnchanged(t, "dst outside the rows", true, label)
					for y := range h {
						for x := range w {
							if got, want := dst.at(y, x), src.at(0, y*w+x); got != want {
								t.Fatalf("%s: dst[%d][%d] = %v, want %v", label, y, x, got,
									want)
							}
						}
					}
				}
			}
		}
	})
}
