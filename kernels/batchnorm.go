package kernels

import "fmt"

// SumSquares returns the sum and the sum of squares of x, accumulated in float64.
func SumSquares(x []float32) (sum, sumSq float64) {
	k := activeVector.Load()
	n := len(x) / k.block * k.block
	sum, sumSq = k.sumSquares(x[:n])
	s, q := sumSquaresGeneric(x[n:])
	return sum + s, sumSq + q
}

// ScaleShift sets dst[i] = src[i]·scale + shift for i < len(dst), then clamps at 0 if relu.
// The product and the sum may be fused into one rounding. The clamp keeps NaN as NaN.
// ScaleShift panics if src is shorter than dst.
func ScaleShift(dst, src []float32, scale, shift float32, relu bool) {
	checkLen("ScaleShift", "src", len(src), len(dst))
	k := activeVector.Load()
	n := len(dst) / k.block * k.block
	if relu {
		k.scaleShiftReLU(dst[:n], src[:n], scale, shift)
	} else {
		k.scaleShift(dst[:n], src[:n], scale, shift)
	}
	scaleShiftGeneric(dst[n:], src[n:len(dst)], scale, shift, relu)
}

// NormReLU is a ReLU fused after a batch normalization, y = max(0, x·Scale + Shift), as
// ScaleShift computes it. The backward kernels recompute its mask from x with the same
// arithmetic, so they need not read y.
type NormReLU struct {
	Scale, Shift float32
}

// BatchNormGradSums returns the float64 sums over i < len(dy) of dy[i] and of
// dy[i]·(x[i] − mean), with x[i] − mean rounded to float32. With relu, the elements whose
// output x[i]·Scale + Shift is 0 or negative are left out, because the ReLU passes no gradient
// there. A NaN output counts as positive. It panics if x is shorter than dy.
func BatchNormGradSums(dy, x []float32, mean float32, relu *NormReLU) (sumDy, sumDyX float64) {
	checkLen("BatchNormGradSums", "x", len(x), len(dy))
	k := activeVector.Load()
	n := len(dy) / k.block * k.block
	var s, sx float64
	if relu != nil {
		sumDy, sumDyX = k.gradSumsReLU(dy[:n], x[:n], mean, relu.Scale, relu.Shift)
	} else {
		sumDy, sumDyX = k.gradSums(dy[:n], x[:n], mean)
	}
	s, sx = batchNormGradSumsGeneric(dy[n:], x[n:], mean, relu)
	return sumDy + s, sumDyX + sx
}

// BatchNormGradInput sets dx[i] = a·dy[i] + b·(x[i] − mean) + c for i < len(dx). With relu,
// dy[i] counts as 0 where the output is 0 or negative, as in BatchNormGradSums. Products and
// sums may be fused. It panics if dy or x is shorter than dx.
func BatchNormGradInput(dx, dy, x []float32, mean, a, b, c float32, relu *NormReLU) {
	checkLen("BatchNormGradInput", "dy", len(dy), len(dx))
	checkLen("BatchNormGradInput", "x", len(x), len(dx))
	k := activeVector.Load()
	n := len(dx) / k.block * k.block
	if relu != nil {
		k.gradInputReLU(dx[:n], dy[:n], x[:n], mean, a, b, c, relu.Scale, relu.Shift)
	} else {
		k.gradInput(dx[:n], dy[:n], x[:n], mean, a, b, c)
	}
	batchNormGradInputGeneric(dx[n:], dy[n:], x[n:], mean, a, b, c, relu)
}

func checkLen(fn, name string, got, want int) {
	if got < want {
		panic(fmt.Sprintf("kernels: %s: len(%s) = %d is shorter than %d", fn, name, got, want))
	}
}

// sumSquaresGeneric is the pure-Go twin of SumSquares.
func sumSquaresGeneric(x []float32) (sum, sumSq float64) {
	for _, e := range x {
		v := float64(e)
		sum += v
		sumSq += v * v
	}
	return sum, sumSq
}

// scaleShiftGeneric is the pure-Go twin of ScaleShift; src must be as long as dst.
func scaleShiftGeneric(dst, src []float32, scale, shift float32, relu bool) {
	src = src[:len(dst)]
	for i, e := range src {
		o := scaleShiftOne(e, scale, shift)
		if relu && o < 0 {
			o = 0
		}
		dst[i] = o
	}
}

// scaleShiftOne returns e·scale + shift. The forward and backward twins both call it, so that
// they round, or fuse, the product and the sum in the same way.
func scaleShiftOne(e, scale, shift float32) float32 {
	return e*scale + shift
}

// reluMasked reports whether the ReLU relu, if not nil, passes no gradient at the input e:
// whether its output is 0 or negative.
func reluMasked(relu *NormReLU, e float32) bool {
	return relu != nil && scaleShiftOne(e, relu.Scale, relu.Shift) <= 0
}

// batchNormGradSumsGeneric is the pure-Go twin of BatchNormGradSums.
func batchNormGradSumsGeneric(dy, x []float32, mean float32,
	relu *NormReLU) (sumDy, sumDyX float64) {
	x = x[:len(dy)]
	for i, e := range dy {
		if reluMasked(relu, x[i]) {
			continue
		}
		sumDy += float64(e)
		sumDyX += float64(e) * float64(x[i]-mean)
	}
	return sumDy, sumDyX
}

// batchNormGradInputGeneric is the pure-Go twin of BatchNormGradInput.
func batchNormGradInputGeneric(dx, dy, x []float32, mean, a, b, c float32, relu *NormReLU) {
	dy, x = dy[:len(dx)], x[:len(dx)]
	for i, e := range dy {
		if reluMasked(relu, x[i]) {
			e = 0
		}
		dx[i] = a*e + b*(x[i]-mean) + c
	}
}
