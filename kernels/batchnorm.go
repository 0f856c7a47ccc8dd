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

// BatchNormGradSums returns the float64 sums over i < len(dy) of dy[i] and of
// dy[i]·(x[i] − mean), with x[i] − mean rounded to float32. With relu, the elements whose
// output y[i] is 0 or negative are left out, because a fused ReLU passes no gradient there.
// A NaN y[i] counts as positive. It panics if x, or y with relu, is shorter than dy.
func BatchNormGradSums(dy, x, y []float32, mean float32, relu bool) (sumDy, sumDyX float64) {
	checkLen("BatchNormGradSums", "x", len(x), len(dy))
	k := activeVector.Load()
	n := len(dy) / k.block * k.block
	var s, sx float64
	if relu {
		checkLen("BatchNormGradSums", "y", len(y), len(dy))
		sumDy, sumDyX = k.gradSumsReLU(dy[:n], x[:n], y[:n], mean)
		s, sx = batchNormGradSumsGeneric(dy[n:], x[n:], y[n:], mean, true)
	} else {
		sumDy, sumDyX = k.gradSums(dy[:n], x[:n], nil, mean)
		s, sx = batchNormGradSumsGeneric(dy[n:], x[n:], nil, mean, false)
	}
	return sumDy + s, sumDyX + sx
}

// BatchNormGradInput sets dx[i] = a·dy[i] + b·(x[i] − mean) + c for i < len(dx). With relu,
// dy[i] counts as 0 where y[i] is 0 or negative, as in BatchNormGradSums. Products and sums
// may be fused. It panics if dy, x, or y with relu, is shorter than dx.
func BatchNormGradInput(dx, dy, x, y []float32, mean, a, b, c float32, relu bool) {
	checkLen("BatchNormGradInput", "dy", len(dy), len(dx))
	checkLen("BatchNormGradInput", "x", len(x), len(dx))
	k := activeVector.Load()
	n := len(dx) / k.block * k.block
	if relu {
		checkLen("BatchNormGradInput", "y", len(y), len(dx))
		k.gradInputReLU(dx[:n], dy[:n], x[:n], y[:n], mean, a, b, c)
		batchNormGradInputGeneric(dx[n:], dy[n:], x[n:], y[n:], mean, a, b, c, true)
		return
	}
	k.gradInput(dx[:n], dy[:n], x[:n], nil, mean, a, b, c)
	batchNormGradInputGeneric(dx[n:], dy[n:], x[n:], nil, mean, a, b, c, false)
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
		o := e*scale + shift
		if relu && o < 0 {
			o = 0
		}
		dst[i] = o
	}
}

// batchNormGradSumsGeneric is the pure-Go twin of BatchNormGradSums.
func batchNormGradSumsGeneric(dy, x, y []float32, mean float32,
	relu bool) (sumDy, sumDyX float64) {
	x = x[:len(dy)]
	if relu {
		y = y[:len(dy)]
	}
	for i, e := range dy {
		if relu && y[i] <= 0 {
			continue
		}
		sumDy += float64(e)
		sumDyX += float64(e) * float64(x[i]-mean)
	}
	return sumDy, sumDyX
}

// batchNormGradInputGeneric is the pure-Go twin of BatchNormGradInput.
func batchNormGradInputGeneric(dx, dy, x, y []float32, mean, a, b, c float32, relu bool) {
	dy, x = dy[:len(dx)], x[:len(dx)]
	if relu {
		y = y[:len(dx)]
	}
	for i, e := range dy {
		if relu && y[i] <= 0 {
			e = 0
		}
		dx[i] = a*e + b*(x[i]-mean) + c
	}
}
