//go:build amd64 && !noasm

package kernels

var avx2fmaGemm = &gemmImpl{
	name:       "avx2fma",
	label:      "avx2+fma",
	mr:         6,
	nr:         16,
	kernel:     gemmF32x6x16AVX2FMA,
	edge:       avx2EdgeKernels,
	dotNT:      dotNT2x4AVX2,
	ntMR:       2,
	ntNR:       4,
	ntK:        8,
	winoInput:  winogradInputAVX2,
	winoOutput: winogradOutputAVX2,
	winoGrad:   winogradGradAVX2,
}

// avx2EdgeKernels compute the last 1 to 5 rows of a matrix with the 6-row A panels of
// gemmF32x6x16AVX2FMA.
var avx2EdgeKernels = []microKernel{nil, gemmF32x1x16AVX2FMA, gemmF32x2x16AVX2FMA,
	gemmF32x3x16AVX2FMA, gemmF32x4x16AVX2FMA, gemmF32x5x16AVX2FMA}

// avx512Gemm has a 16-row micro-kernel and a 4×4 dot-product tile on ZMM registers. Its B
// panels are 16 columns wide, as the AVX2 ones are, so it shares the AVX2 Winograd transforms.
var avx512Gemm = &gemmImpl{
	name:       "avx512",
	label:      "avx-512",
	mr:         16,
	nr:         16,
	kernel:     gemmF32x16x16AVX512,
	dotNT:      dotNT4x4Tiles,
	ntMR:       4,
	ntNR:       4,
	ntK:        16,
	winoInput:  winogradInputAVX2,
	winoOutput: winogradOutputAVX2,
	winoGrad:   winogradGradAVX2,
}

// asmGemmImpls returns the assembly GEMM implementations that this CPU supports, fastest first.
func asmGemmImpls() []*gemmImpl {
	var impls []*gemmImpl
	if cpu.AVX2FMA && cpu.AVX512 {
		impls = append(impls, avx512Gemm)
	}
	if cpu.AVX2FMA {
		impls = append(impls, avx2fmaGemm)
	}
	return impls
}

// asmBF16GemmImpls returns the assembly bf16 micro-kernels that this CPU supports.
func asmBF16GemmImpls() []*bf16GemmImpl {
	if cpu.AVX512BF16 {
		return []*bf16GemmImpl{{name: "avx512bf16", kernel: gemmBF16x16x16AVX512BF16,
			packPairs: packBF16PairsAVX512BF16}}
	}
	return nil
}

// fmaPeakProbes returns the FMA throughput probes that this CPU supports, widest first.
func fmaPeakProbes() []fmaProbe {
	var probes []fmaProbe
	if cpu.AVX2FMA && cpu.AVX512 {
		probes = append(probes, fmaProbe{"avx512", fmaPeakAVX512, 384})
	}
	if cpu.AVX2FMA {
		probes = append(probes, fmaProbe{"avx2fma", fmaPeakAVX2FMA, 192})
	}
	return probes
}

var avx2Vector = &vectorImpl{
	name:           "avx2",
	block:          32,
	sumSquares:     sumSquaresAVX2,
	scaleShift:     scaleShiftAVX2,
	scaleShiftReLU: scaleShiftReLUAVX2,
	gradSums:       batchNormGradSumsAVX2,
	gradSumsReLU:   batchNormGradSumsReLUAVX2,
	gradInput:      batchNormGradInputAVX2,
	gradInputReLU:  batchNormGradInputReLUAVX2,
	maxPoolGrad:    maxPoolGrad3x3AVX2,
	max3:           max3AVX2,
	allAboveNegInf: allAboveNegInfAVX2,
	copyRows:       copyRowsAVX2,
}

// asmVectorImpls returns the assembly element-wise kernels that this CPU supports, with the
// binary16 conversions when it also has F16C.
func asmVectorImpls() []*vectorImpl {
	if !cpu.AVX2FMA {
		return nil
	}
	impl := *avx2Vector
	if cpu.F16C {
		impl.f16to32, impl.f32to16 = float16ToFloat32F16C, float32ToFloat16F16C
	}
	return []*vectorImpl{&impl}
}

// dotNT4x4Tiles calls dotNT4x4AVX512 for each of tiles 4×4 tiles of C, one below the other.
func dotNT4x4Tiles(a []float32, lda int, b []float32, ldb int, k int, c []float32, ldc int,
	tiles int) {
	for t := range tiles {
		dotNT4x4AVX512(a[4*t*lda:], lda, b, ldb, k, c[4*t*ldc:], ldc)
	}
}
