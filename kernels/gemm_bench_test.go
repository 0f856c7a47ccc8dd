package kernels

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// benchGemmShapes are the conv GEMMs of the CIFAR-10 network at widths 128 and 32 (m = output
// channels, n = output pixels, k = input channels × kernel area) and two tiny products.
var benchGemmShapes = []gemmCase{
	{16, 1024, 32},    // 1×1 projection, 32 to 16 channels at 32×32 (width 32)
	{32, 1024, 288},   // 3×3 conv, 32 channels at 32×32 (width 32)
	{64, 1024, 27},    // 3×3 stem conv on the 3-channel 32×32 image
	{64, 1024, 64},    // 1×1 conv, 64 channels at 32×32
	{64, 1024, 576},   // 3×3 conv, 64 channels at 32×32
	{128, 1024, 1152}, // 3×3 conv, 128 channels at 32×32
	{128, 256, 128},   // 1×1 conv, 128 channels at 16×16
	{128, 256, 1152},  // 3×3 conv, 128 channels at 16×16
	{128, 64, 1152},   // 3×3 conv, 128 channels at 8×8
	{1, 1, 1},
	{5, 5, 5},
}

var (
	fmaPeakOnce   sync.Once
	fmaPeakGFLOPS float64
)

// measuredFMAPeak returns the best of five runs of the FMA throughput probe, in GFLOP/s, or 0
// when this build has no probe. It is measured once per test binary.
func measuredFMAPeak() float64 {
	fmaPeakOnce.Do(func() {
		probes := fmaPeakProbes()
		if len(probes) == 0 {
			return
		}
		probe := probes[0]
		const iterations = 10_000_000
		for range 5 {
			start := time.Now()
			probe.run(iterations, 1, 1e-9)
			seconds := time.Since(start).Seconds()
			fmaPeakGFLOPS = max(fmaPeakGFLOPS, float64(probe.flops)*iterations/seconds/1e9)
		}
	})
	return fmaPeakGFLOPS
}

// reportGemmRate reports GFLOP/s for b.N products of 2·m·n·k flops, and the fraction of the
// measured FMA peak of one core as %peak.
func reportGemmRate(b *testing.B, m, n, k int) {
	flops := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
	gflops := flops / b.Elapsed().Seconds() / 1e9
	b.ReportMetric(gflops, "GFLOP/s")
	if peak := measuredFMAPeak(); peak > 0 {
		b.ReportMetric(100*gflops/peak, "%peak")
	}
}

// benchEachPath runs f as a sub-benchmark per GEMM path that this CPU and build can run.
func benchEachPath(b *testing.B, f func(b *testing.B)) {
	for _, impl := range gemmImpls() {
		b.Run(impl.name, func(b *testing.B) {
			restore := useGemmImpl(impl)
			defer restore()
			f(b)
		})
	}
}

// benchGemm benchmarks Sgemm (packed=false) or SgemmPacked on every network shape and path.
func benchGemm(b *testing.B, packed bool) {
	measuredFMAPeak()
	for _, s := range benchGemmShapes {
		b.Run(fmt.Sprintf("f32/m=%d,n=%d,k=%d", s.m, s.n, s.k), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(41, 42))
			a := make([]float32, s.m*s.k)
			bm := make([]float32, s.k*s.n)
			c := make([]float32, s.m*s.n)
			for i := range a {
				a[i] = rng.Float32()
			}
			for i := range bm {
				bm[i] = rng.Float32()
			}
			benchEachPath(b, func(b *testing.B) {
				p := PackA(s.m, s.k, a, s.k)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if packed {
						SgemmPacked(p, s.n, bm, s.n, c, s.n, false)
					} else {
						Sgemm(s.m, s.n, s.k, a, s.k, bm, s.n, c, s.n, false)
					}
				}
				reportGemmRate(b, s.m, s.n, s.k)
			})
		})
	}
}

func BenchmarkSgemm(b *testing.B) { benchGemm(b, false) }

func BenchmarkSgemmPacked(b *testing.B) { benchGemm(b, true) }

// BenchmarkGemmMicroKernel measures the micro-kernel alone: one tile of C from packed A and B
// panels of kc = gemmKC that stay in the L1 cache, so that the rate is the kernel's own. It
// runs the FMA peak probe between chunks of kernel calls, with as many operations, and reports
// the ratio of the two rates as interleaved%peak. A load that changes during the run affects
// that ratio less than the %peak of a probe measured once.
func BenchmarkGemmMicroKernel(b *testing.B) {
	benchEachPath(b, func(b *testing.B) {
		impl := activeGemm.Load()
		a := make([]float32, impl.mr*gemmKC)
		bp := make([]float32, impl.nr*gemmKC)
		c := make([]float32, impl.mr*impl.nr)
		probes := fmaPeakProbes()
		flopsPerCall := 2 * impl.mr * impl.nr * gemmKC
		const chunk = 10_000
		var kernelTime, probeTime time.Duration
		b.ReportAllocs()
		for done := 0; done < b.N; done += chunk {
			calls := min(chunk, b.N-done)
			start := time.Now()
			for range calls {
				impl.kernel(a, bp, impl.nr, c, gemmKC, impl.nr, true)
			}
			kernelTime += time.Since(start)
			if len(probes) > 0 {
				b.StopTimer()
				start = time.Now()
				probes[0].run(calls*flopsPerCall/probes[0].flops, 1, 1e-9)
				probeTime += time.Since(start)
				b.StartTimer()
			}
		}
		reportGemmRate(b, impl.mr, impl.nr, gemmKC)
		if len(probes) > 0 {
			b.ReportMetric(100*probeTime.Seconds()/kernelTime.Seconds(), "interleaved%peak")
		}
	})
}

// BenchmarkFMAPeak reports the FMA throughput of one core measured by each assembly probe. The
// widest probe's is the denominator of the %peak metric.
func BenchmarkFMAPeak(b *testing.B) {
	probes := fmaPeakProbes()
	if len(probes) == 0 {
		b.Skip("no FMA peak probe: it needs amd64 with AVX2 and FMA3 and a build without noasm")
	}
	for _, probe := range probes {
		b.Run(probe.name, func(b *testing.B) {
			const iterations = 1_000_000
			b.ReportAllocs()
			for range b.N {
				probe.run(iterations, 1, 1e-9)
			}
			b.ReportMetric(float64(probe.flops)*iterations*float64(b.N)/
				b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkIm2col(b *testing.B) {
	for _, cc := range []convCase{
		{3, 32, 32, 3, 3, 1, 1},
		{64, 32, 32, 3, 3, 1, 1},
		{128, 16, 16, 3, 3, 1, 1},
		{64, 32, 32, 3, 3, 1, 2},
		{128, 8, 8, 5, 5, 2, 1},
	} {
		b.Run(cc.benchName(), func(b *testing.B) {
			outH := ConvOutputSize(cc.h, cc.kh, cc.pad, cc.stride)
			outW := ConvOutputSize(cc.w, cc.kw, cc.pad, cc.stride)
			src := make([]float32, cc.c*cc.h*cc.w)
			dst := make([]float32, cc.c*cc.kh*cc.kw*outH*outW)
			b.SetBytes(int64(4 * len(dst)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				Im2col(dst, src, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.pad, cc.pad,
					cc.stride, cc.stride)
			}
		})
	}
}

func BenchmarkBiasReLU(b *testing.B) {
	for _, s := range [][2]int{{64, 1024}, {128, 256}, {128, 64}} {
		rows, cols := s[0], s[1]
		b.Run(fmt.Sprintf("f32/rows=%d,cols=%d", rows, cols), func(b *testing.B) {
			c := make([]float32, rows*cols)
			bias := make([]float32, rows)
			b.SetBytes(int64(4 * len(c)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				BiasReLU(c, rows, cols, cols, bias, true)
			}
		})
	}
}

// benchName is the sub-benchmark name of a convolution geometry.
func (cc convCase) benchName() string {
	return fmt.Sprintf("f32/c=%d,h=%d,w=%d,k=%dx%d,pad=%d,stride=%d",
		cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.pad, cc.stride)
}

// BenchmarkSgemmNT measures the weight-gradient product dy·colᵀ on the shapes of the
// network's convolutions at width 32: m output channels, n = 9·input channels (im2col) or
// input channels (1×1, and the Winograd product of one of 36 elements over k tiles), and k
// output pixels.
func BenchmarkSgemmNT(b *testing.B) {
	for _, s := range []gemmCase{{32, 288, 1024}, {64, 576, 256}, {128, 1152, 64},
		{16, 32, 1024}, {32, 32, 1024}, {32, 32, 128}} {
		b.Run(fmt.Sprintf("f32/m=%d,n=%d,k=%d", s.m, s.n, s.k), func(b *testing.B) {
			a, bm, c := make([]float32, s.m*s.k), make([]float32, s.n*s.k), make([]float32, s.m*s.n)
			benchEachPath(b, func(b *testing.B) {
				for range b.N {
					SgemmNT(s.m, s.n, s.k, a, s.k, bm, s.k, c, s.n, true)
				}
				reportGemmRate(b, s.m, s.n, s.k)
			})
		})
	}
}
