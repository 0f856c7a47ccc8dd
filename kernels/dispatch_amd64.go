//go:build amd64 && !noasm

package kernels

var avx2fmaGemm = &gemmImpl{
	name:       "avx2fma",
	label:      "avx2+fma",
	mr:         6,
	nr:         16,
	kernel:     gemmF32x6x16AVX2FMA,
	dotNT:      dotNT2x4AVX2,
	winoInput:  winogradInputAVX2,
	winoOutput: winogradOutputAVX2,
	winoGrad:   winogradGradAVX2,
}

// asmGemmImpls returns the assembly GEMM implementations that this CPU supports, fastest first.
func asmGemmImpls() []*gemmImpl {
	if cpu.AVX2FMA {
		return []*gemmImpl{avx2fmaGemm}
	}
	return nil
}

// fmaPeakProbe returns the FMA throughput probe, or nil when this CPU and build have none.
func fmaPeakProbe() func(n int, x, y float32) float32 {
	if cpu.AVX2FMA {
		return fmaPeakAVX2FMA
	}
	return nil
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
