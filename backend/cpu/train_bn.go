package cpu

import (
	"fmt"
	"math"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/tensor"
)

// vectors checks that every buffer is a whole [1, C, 1, 1] parameter and returns their data.
func vectors(op string, c int, bufs ...backend.Buffer) ([][]float32, error) {
	out := make([][]float32, len(bufs))
	for k, b := range bufs {
		p, err := asParam(b)
		if err != nil {
			return nil, err
		}
		if err := checkShape(op, fmt.Sprintf("parameter %d", k), p,
			tensor.Shape{1, c, 1, 1}); err != nil {
			return nil, err
		}
		out[k] = p.data
	}
	return out, nil
}

// BatchNormForwardTraining normalizes x with batch statistics; see backend.Trainer.
func (b *Backend) BatchNormForwardTraining(d backend.BatchNormDesc, xb, yb, gamma, beta,
	runningMean, runningVar, saveMean, saveInvStd backend.Buffer, factor float32) error {
	x, y, err := asBuffers(xb, yb)
	if err != nil {
		return err
	}
	if err := checkShape("batchnorm training", "input", x, tensor.Shape{x.n, d.Channels, x.h,
		x.w}); err != nil {
		return err
	}
	if err := checkShape("batchnorm training", "output", y, x.Shape()); err != nil {
		return err
	}
	v, err := vectors("batchnorm training", d.Channels, gamma, beta, runningMean, runningVar,
		saveMean, saveInvStd)
	if err != nil {
		return err
	}
	g, bt, rm, rv, sm, si := v[0], v[1], v[2], v[3], v[4], v[5]
	plane := x.h * x.w
	count := float64(x.n * plane)
	relu := d.Activation == backend.ReLU
	b.parallelFor(d.Channels, func(_, lo, hi int) {
		for c := lo; c < hi; c++ {
			// NOTE: float32 sums here moved the last cell's gradients 30× further from the
			// float64 PyTorch reference, through E[x²] − E[x]².
			var sum, sumSq float64
			for i := range x.n {
				s, sq := kernels.SumSquares(x.image(i)[c*plane : (c+1)*plane])
				sum += s
				sumSq += sq
			}
			mean := sum / count
			variance := max(sumSq/count-mean*mean, 0)
			inv := 1 / math.Sqrt(variance+float64(d.Eps))
			sm[c], si[c] = float32(mean), float32(inv)
			unbiased := variance
			if count > 1 {
				unbiased = variance * count / (count - 1)
			}
			rm[c] = (1-factor)*rm[c] + factor*float32(mean)
			rv[c] = (1-factor)*rv[c] + factor*float32(unbiased)
			scale, shift := normScaleShift(g[c], bt[c], sm[c], si[c])
			// Backwards, as in BatchNormBackward.
			for i := x.n - 1; i >= 0; i-- {
				kernels.ScaleShift(y.image(i)[c*plane:(c+1)*plane],
					x.image(i)[c*plane:(c+1)*plane], scale, shift, relu)
			}
		}
	})
	return nil
}

// normScaleShift returns the scale and shift that a batch normalization with these
// parameters and batch statistics applies to its input. The forward and backward passes both
// take them from here, so that the backward pass recomputes the forward's ReLU mask exactly.
func normScaleShift(gamma, beta, mean, invStd float32) (scale, shift float32) {
	scale = gamma * invStd
	// The conversion keeps the product from being fused into the subtraction.
	return scale, beta - float32(mean*scale)
}

// BatchNormBackward computes the gradients of a training-mode batch normalization; see
// backend.Trainer. It recomputes the ReLU mask from x, gamma and beta, and does not read y.
//
// NOTE: with 32 to 128 channels, the two passes here and the two of the forward pass are
// bound by memory bandwidth, and take 15-20 % of a width-32 training step.
func (b *Backend) BatchNormBackward(d backend.BatchNormDesc, xb, yb, dyb, gamma, beta,
	saveMean, saveInvStd, dxb, dgamma, dbeta backend.Buffer) error {
	var bufs [4]*Buffer
	for k, buf := range []backend.Buffer{xb, yb, dyb, dxb} {
		p, err := asBuffer(buf)
		if err != nil {
			return err
		}
		if err := checkShape("batchnorm backward", "activation", p, tensor.Shape{p.n,
			d.Channels, p.h, p.w}); err != nil {
			return err
		}
		bufs[k] = p
	}
	x, dy, dx := bufs[0], bufs[2], bufs[3]
	for _, p := range bufs[1:] {
		if err := checkShape("batchnorm backward", "gradient", p, x.Shape()); err != nil {
			return err
		}
	}
	v, err := vectors("batchnorm backward", d.Channels, gamma, beta, saveMean, saveInvStd,
		dgamma, dbeta)
	if err != nil {
		return err
	}
	g, bt, sm, si, dg, db := v[0], v[1], v[2], v[3], v[4], v[5]
	plane := x.h * x.w
	count := float32(x.n * plane)
	relu := d.Activation == backend.ReLU
	b.parallelFor(d.Channels, func(_, lo, hi int) {
		for c := lo; c < hi; c++ {
			mean, inv := sm[c], si[c]
			var normReLU *kernels.NormReLU
			if relu {
				scale, shift := normScaleShift(g[c], bt[c], mean, inv)
				normReLU = &kernels.NormReLU{Scale: scale, Shift: shift}
			}
			var sumG, sumGX float64
			for i := range x.n {
				xs := x.image(i)[c*plane : (c+1)*plane]
				gs := dy.image(i)[c*plane : (c+1)*plane]
				// float64 sums: dbeta and dgamma cancel heavily, and float32 partial sums
				// measurably worsened them.
				g, gx := kernels.BatchNormGradSums(gs, xs, mean, normReLU)
				sumG += g
				sumGX += gx * float64(inv)
			}
			dg[c], db[c] = float32(sumGX), float32(sumG)
			// dx = k·(count·dy − Σdy − (x − mean)·inv·Σdy·x̂), with dy masked by the ReLU.
			k := g[c] * inv / count
			mg, mgx := float32(sumG), float32(sumGX)
			a, bx, shift := k*count, -k*inv*mgx, -k*mg
			// The second pass runs backwards, so that it starts on the images that the first
			// pass left in the cache.
			for i := x.n - 1; i >= 0; i-- {
				span := func(buf *Buffer) []float32 { return buf.image(i)[c*plane : (c+1)*plane] }
				kernels.BatchNormGradInput(span(dx), span(dy), span(x), mean, a, bx, shift,
					normReLU)
			}
		}
	})
	return nil
}
