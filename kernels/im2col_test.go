package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

// convCase is one convolution geometry of the Im2col tests.
type convCase struct {
	c, h, w, kh, kw, pad, stride int
}

func (cc convCase) String() string {
	return fmt.Sprintf("c=%d h=%d w=%d kernel=%d×%d pad=%d stride=%d",
		cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.pad, cc.stride)
}

// convCases returns odd image sizes with 1×1, 3×3 and 5×5 kernels (and one non-square kernel),
// strides 1 and 2 and padding 0 to 2, skipping kernels that do not fit the padded image.
func convCases() []convCase {
	var cases []convCase
	sizes := [][2]int{{9, 9}, {1, 1}, {7, 5}, {2, 11}}
	kernels := [][2]int{{1, 1}, {3, 3}, {5, 5}, {3, 1}}
	for _, c := range []int{1, 3} {
		for _, hw := range sizes {
			for _, k := range kernels {
				for pad := 0; pad <= 2; pad++ {
					for stride := 1; stride <= 2; stride++ {
						if hw[0]+2*pad < k[0] || hw[1]+2*pad < k[1] {
							continue
						}
						cases = append(cases, convCase{c, hw[0], hw[1], k[0], k[1], pad, stride})
					}
				}
			}
		}
	}
	return append(cases, convCase{0, 4, 4, 3, 3, 1, 1}, convCase{2, 0, 3, 1, 1, 1, 1})
}

// directConv returns the cout×outH×outW convolution of the c×h×w image src with weights
// [cout][c][kh][kw], zero padding, computed in float64 straight from the definition.
func directConv(cc convCase, cout int, src, weight []float32) []float64 {
	outH := ConvOutputSize(cc.h, cc.kh, cc.pad, cc.stride)
	outW := ConvOutputSize(cc.w, cc.kw, cc.pad, cc.stride)
	out := make([]float64, cout*outH*outW)
	for co := 0; co < cout; co++ {
		for oh := 0; oh < outH; oh++ {
			for ow := 0; ow < outW; ow++ {
				var sum float64
				for ci := 0; ci < cc.c; ci++ {
					for ki := 0; ki < cc.kh; ki++ {
						for kj := 0; kj < cc.kw; kj++ {
							ih := oh*cc.stride - cc.pad + ki
							iw := ow*cc.stride - cc.pad + kj
							if ih < 0 || ih >= cc.h || iw < 0 || iw >= cc.w {
								continue
							}
							wv := weight[((co*cc.c+ci)*cc.kh+ki)*cc.kw+kj]
							sum += float64(wv) * float64(src[(ci*cc.h+ih)*cc.w+iw])
						}
					}
				}
				out[(co*outH+oh)*outW+ow] = sum
			}
		}
	}
	return out
}

// TestIm2colConv multiplies weights by the Im2col matrix and compares the result with a direct
// convolution, and checks that Im2col writes exactly its column matrix.
func TestIm2colConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const cout = 4
	for _, cc := range convCases() {
		outH := ConvOutputSize(cc.h, cc.kh, cc.pad, cc.stride)
		outW := ConvOutputSize(cc.w, cc.kw, cc.pad, cc.stride)
		rows, cols := cc.c*cc.kh*cc.kw, outH*outW
		src := newGuarded(1, cc.c*cc.h*cc.w, max(1, cc.c*cc.h*cc.w), uniform(rng))
		dst := newGuarded(1, rows*cols, max(1, rows*cols), nil)
		Im2col(dst.data(), src.data(), cc.c, cc.h, cc.w, cc.kh, cc.kw,
			cc.pad, cc.pad, cc.stride, cc.stride)
		src.checkUnchanged(t, "src", false, cc.String())
		dst.checkUnchanged(t, "dst outside the column matrix", true, cc.String())

		weight := make([]float32, cout*rows)
		for i := range weight {
			weight[i] = rng.Float32()*2 - 1
		}
		want := directConv(cc, cout, src.data(), weight)
		columns := dst.data()
		for co := 0; co < cout; co++ {
			for j := 0; j < cols; j++ {
				var got float64
				for r := 0; r < rows; r++ {
					got += float64(weight[co*rows+r]) * float64(columns[r*cols+j])
				}
				if math.Abs(got-want[co*cols+j]) > 1e-9 {
					t.Errorf("%s: output[%d][%d] = %v, want %v from direct convolution",
						cc, co, j, got, want[co*cols+j])
				}
			}
		}
	}
}

// TestIm2colElements checks every element of the column matrix against the pixel it names.
func TestIm2colElements(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, cc := range convCases() {
		outH := ConvOutputSize(cc.h, cc.kh, cc.pad, cc.stride)
		outW := ConvOutputSize(cc.w, cc.kw, cc.pad, cc.stride)
		src := make([]float32, cc.c*cc.h*cc.w)
		for i := range src {
			src[i] = rng.Float32() + 1 // never 0, so a padding zero cannot match a pixel
		}
		dst := make([]float32, cc.c*cc.kh*cc.kw*outH*outW)
		Im2col(dst, src, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.pad, cc.pad, cc.stride, cc.stride)
		for ci := 0; ci < cc.c; ci++ {
			for ki := 0; ki < cc.kh; ki++ {
				for kj := 0; kj < cc.kw; kj++ {
					row := ((ci*cc.kh+ki)*cc.kw + kj) * outH * outW
					for oh := 0; oh < outH; oh++ {
						for ow := 0; ow < outW; ow++ {
							ih := oh*cc.stride - cc.pad + ki
							iw := ow*cc.stride - cc.pad + kj
							var want float32
							if ih >= 0 && ih < cc.h && iw >= 0 && iw < cc.w {
								want = src[(ci*cc.h+ih)*cc.w+iw]
							}
							got := dst[row+oh*outW+ow]
							if got != want {
								t.Fatalf("%s: dst[row (ci=%d,ki=%d,kj=%d)][col (oh=%d,ow=%d)] "+
									"= %v, want %v", cc, ci, ki, kj, oh, ow, got, want)
							}
						}
					}
				}
			}
		}
	}
}

func TestIm2colAsymmetric(t *testing.T) {
	// Different padding and stride per axis: 5×6 image, 3×2 kernel, pad 1×0, stride 2×1.
	const c, h, w, kh, kw, padH, padW, strideH, strideW = 2, 5, 6, 3, 2, 1, 0, 2, 1
	src := make([]float32, c*h*w)
	for i := range src {
		src[i] = float32(i + 1)
	}
	outH := ConvOutputSize(h, kh, padH, strideH)
	outW := ConvOutputSize(w, kw, padW, strideW)
	assert.Equal(t, 3, outH)
	assert.Equal(t, 5, outW)
	dst := make([]float32, c*kh*kw*outH*outW)
	Im2col(dst, src, c, h, w, kh, kw, padH, padW, strideH, strideW)
	for r := 0; r < c*kh*kw; r++ {
		ci, ki, kj := r/(kh*kw), r/kw%kh, r%kw
		for oh := 0; oh < outH; oh++ {
			for ow := 0; ow < outW; ow++ {
				ih, iw := oh*strideH-padH+ki, ow*strideW-padW+kj
				var want float32
				if ih >= 0 && ih < h && iw >= 0 && iw < w {
					want = src[(ci*h+ih)*w+iw]
				}
				assert.Equal(t, want, dst[r*outH*outW+oh*outW+ow],
					"row %d (ci=%d ki=%d kj=%d), oh=%d ow=%d", r, ci, ki, kj, oh, ow)
			}
		}
	}
}

func TestIm2colPanics(t *testing.T) {
	src := make([]float32, 9)
	dst := make([]float32, 81)
	assert.PanicsWithValue(t, "kernels: Im2col: kernel 5×5 is larger than the padded 3×3 image",
		func() { Im2col(dst, src, 1, 3, 3, 5, 5, 0, 0, 1, 1) })
	assert.PanicsWithValue(t, "kernels: Im2col: stride 0×1, want at least 1×1",
		func() { Im2col(dst, src, 1, 3, 3, 3, 3, 1, 1, 0, 1) })
	assert.PanicsWithValue(t,
		"kernels: Im2col: len(src) = 8 is too short for a 1×3×3 image (want >= 9)",
		func() { Im2col(dst, src[:8], 1, 3, 3, 3, 3, 1, 1, 1, 1) })
	assert.PanicsWithValue(t,
		"kernels: Im2col: len(dst) = 80 is too short for the 9×9 column matrix (want >= 81)",
		func() { Im2col(dst[:80], src, 1, 3, 3, 3, 3, 1, 1, 1, 1) })
}

func TestConvOutputSize(t *testing.T) {
	assert.Equal(t, 32, ConvOutputSize(32, 3, 1, 1))
	assert.Equal(t, 16, ConvOutputSize(32, 3, 1, 2))
	assert.Equal(t, 16, ConvOutputSize(32, 1, 0, 2))
	assert.Equal(t, 0, ConvOutputSize(2, 5, 1, 1))
}
