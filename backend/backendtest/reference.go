package backendtest

import (
	"math"

	"github.com/renasgo/renas/backend"
)

// The reference functions below compute each op with plain loops in float64 on dense NCHW
// slices. They are slow and obvious on purpose.

func refConv(x []float32, n, c, h, w int, weight, bias []float32, d backend.Conv2DDesc,
	oh, ow int) []float32 {
	out := make([]float32, n*d.OutChannels*oh*ow)
	for i := range n {
		for o := range d.OutChannels {
			for r := range oh {
				for q := range ow {
					var s float64
					if bias != nil {
						s = float64(bias[o])
					}
					for ci := range c {
						for kr := range d.KernelH {
							for kq := range d.KernelW {
								y := r*d.StrideH - d.PadH + kr
								z := q*d.StrideW - d.PadW + kq
								if y < 0 || y >= h || z < 0 || z >= w {
									continue
								}
								wv := weight[((o*c+ci)*d.KernelH+kr)*d.KernelW+kq]
								s += float64(wv) * float64(x[((i*c+ci)*h+y)*w+z])
							}
						}
					}
					if d.Activation == backend.ReLU {
						s = math.Max(s, 0)
					}
					out[((i*d.OutChannels+o)*oh+r)*ow+q] = float32(s)
				}
			}
		}
	}
	return out
}

func refBatchNorm(x []float32, n, c, plane int, gamma, beta, mean, variance []float32,
	eps float32, relu bool) []float32 {
	out := make([]float32, len(x))
	for i := range n {
		for ch := range c {
			inv := 1 / math.Sqrt(float64(variance[ch])+float64(eps))
			for p := range plane {
				k := (i*c+ch)*plane + p
				v := (float64(x[k])-float64(mean[ch]))*inv*float64(gamma[ch]) + float64(beta[ch])
				if relu {
					v = math.Max(v, 0)
				}
				out[k] = float32(v)
			}
		}
	}
	return out
}

// refPool computes pooling with explicit padding; the padded positions are skipped.
func refPool(x []float32, n, c, h, w int, d backend.PoolDesc, oh, ow, padTop,
	padLeft int) []float32 {
	out := make([]float32, n*c*oh*ow)
	for p := range n * c {
		for r := range oh {
			for q := range ow {
				best, sum, count := math.Inf(-1), 0.0, 0
				for kr := range d.KernelH {
					for kq := range d.KernelW {
						y, z := r*d.StrideH-padTop+kr, q*d.StrideW-padLeft+kq
						if y < 0 || y >= h || z < 0 || z >= w {
							continue
						}
						v := float64(x[(p*h+y)*w+z])
						best = math.Max(best, v)
						sum += v
						count++
					}
				}
				v := best
				if d.Kind == backend.AvgPool {
					v = sum / float64(count)
				}
				out[(p*oh+r)*ow+q] = float32(v)
			}
		}
	}
	return out
}

func refLinear(x []float32, n, in int, weight, bias []float32, out int) []float32 {
	y := make([]float32, n*out)
	for i := range n {
		for o := range out {
			s := float64(bias[o])
			for f := range in {
				s += float64(x[i*in+f]) * float64(weight[o*in+f])
			}
			y[i*out+o] = float32(s)
		}
	}
	return y
}
