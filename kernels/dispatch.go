package kernels

import (
	"sync/atomic"

	"github.com/klauspost/cpuid/v2"
)

// cpuFeatures is the set of instruction-set extensions that the kernels can use, detected once.
type cpuFeatures struct {
	// AVX2FMA is AVX2 together with FMA3. cpuid reports AVX2 only when the OS saves the YMM
	// registers, and FMA3 alone does not imply AVX2.
	AVX2FMA bool

	// AVX512 is AVX-512 F, CD, BW, DQ and VL together.
	AVX512 bool

	// AVX512BF16 is AVX512_BF16, whose VDPBF16PS the bf16 GEMM uses, together with AVX512.
	AVX512BF16 bool

	// F16C is the half-precision conversion extension, which the binary16 conversions use.
	F16C bool

	// L2 is the size of the L2 cache of one core in bytes, or 0 where cpuid does not report it.
	L2 int
}

var cpu = detectCPU()

// detectCPU reads the features that cpuid detected when its package was initialised.
func detectCPU() cpuFeatures {
	return cpuFeatures{
		AVX2FMA: cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3),
		AVX512: cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512CD, cpuid.AVX512BW,
			cpuid.AVX512DQ, cpuid.AVX512VL),
		AVX512BF16: cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512CD, cpuid.AVX512BW,
			cpuid.AVX512DQ, cpuid.AVX512VL, cpuid.AVX512BF16),
		F16C: cpuid.CPU.Supports(cpuid.F16C),
		L2:   max(0, cpuid.CPU.Cache.L2),
	}
}

// microKernel computes a tile of C = A·B from a packed A panel and a panel of B with row
// stride ldb, with the contract of gemmF32x6x16Generic for its tile.
type microKernel func(a, b []float32, ldb int, c []float32, kc, ldc int, accumulate bool)

// gemmImpl is one implementation of the GEMM micro-kernel together with its tile shape, which
// the packing routines follow.
type gemmImpl struct {
	// name is the short name used in test and benchmark names, such as "avx2fma".
	name string

	// label is the name that Path returns, such as "avx2+fma".
	label string

	// mr×nr is the tile that kernel computes. The packed A panels have mr rows and the packed B
	// panels have nr columns.
	mr, nr int

	// kernel computes one mr×nr tile. It has the contract of gemmF32x6x16Generic with 6 and 16
	// replaced by mr and nr.
	kernel microKernel

	// edge, where set, holds for each rows in [1, mr) a kernel that computes the first rows
	// rows of the tile of kernel, from the same packed A panel, straight into C (edge[0] is
	// nil). Without edge, the last rows of a matrix whose row count is not a multiple of mr
	// are computed as a whole tile in scratch memory and copied.
	edge []microKernel

	// dotNT adds a column of ntMR×ntNR tiles of dot products to C, with the contract of
	// dotNT2x4Generic for that tile and k a multiple of ntK.
	dotNT func(a []float32, lda int, b []float32, ldb int, k int, c []float32, ldc int,
		tiles int)
	ntMR, ntNR, ntK int

	// winoInput, winoOutput and winoGrad are the Winograd tile transforms, with the
	// contracts of winogradInputGeneric, winogradOutputGeneric and winogradGradGeneric.
	winoInput  func(v []float32, ld int, x []float32, offs []int, rs, blocks int)
	winoOutput func(out []float32, offs []int, rs int, m []float32, ld, blocks int,
		bias float32, relu bool)
	winoGrad func(dm []float32, ld int, rows []float32, rs, blocks int)
}

var genericGemm = &gemmImpl{
	name:       "generic",
	label:      "pure Go",
	mr:         6,
	nr:         16,
	kernel:     gemmF32x6x16Generic,
	edge:       genericEdgeKernels(),
	dotNT:      dotNT2x4Generic,
	ntMR:       2,
	ntNR:       4,
	ntK:        8,
	winoInput:  winogradInputGeneric,
	winoOutput: winogradOutputGeneric,
	winoGrad:   winogradGradGeneric,
}

// gemmImpls returns the GEMM implementations that this CPU and build can run, fastest first.
// The last one is always the pure-Go twin.
func gemmImpls() []*gemmImpl {
	return append(asmGemmImpls(), genericGemm)
}

// fmaProbe is an FMA throughput probe with the contract of fmaPeakGeneric, which measures the
// peak floating-point rate of one core at one vector width.
type fmaProbe struct {
	name string
	run  func(n int, x, y float32) float32
	// flops is the number of floating-point operations of one iteration.
	flops int
}

// activeGemm is the implementation that Sgemm and SgemmPacked use.
var activeGemm atomic.Pointer[gemmImpl]

func init() {
	activeGemm.Store(gemmImpls()[0])
}

// Path returns the name of the kernel path in use: "avx-512", "avx2+fma" or "pure Go".
func Path() string {
	return activeGemm.Load().label
}

// ForceGeneric makes every kernel use its pure-Go twin until the returned restore function is
// called. It is meant for tests and benchmarks that compare paths. A product that is running
// while the path changes finishes on the path it started with, but a PackedA built on one path
// can be used only on a path with the same tile, and SgemmPacked panics otherwise.
func ForceGeneric() (restore func()) {
	restoreGemm := useGemmImpl(genericGemm)
	restoreVector := useVectorImpl(genericVector)
	return func() {
		restoreVector()
		restoreGemm()
	}
}

// useGemmImpl makes impl the active GEMM implementation and returns a function that restores
// the previous one.
func useGemmImpl(impl *gemmImpl) (restore func()) {
	previous := activeGemm.Swap(impl)
	return func() { activeGemm.Store(previous) }
}

// vectorImpl is one implementation of the element-wise kernels: batch normalization, max
// pooling and binary16 conversion. Each function handles a prefix of its vectors whose length
// is a multiple of block, and the exported wrappers finish the rest with the pure-Go twin.
// The optional functions at the end are nil where a path has no assembly for them.
type vectorImpl struct {
	name  string
	block int

	sumSquares     func(x []float32) (sum, sumSq float64)
	scaleShift     func(dst, src []float32, scale, shift float32)
	scaleShiftReLU func(dst, src []float32, scale, shift float32)
	gradSums       func(dy, x []float32, mean float32) (sumDy, sumDyX float64)
	gradSumsReLU   func(dy, x []float32, mean, scale, shift float32) (sumDy, sumDyX float64)
	gradInput      func(dx, dy, x []float32, mean, a, b, c float32)
	gradInputReLU  func(dx, dy, x []float32, mean, a, b, c, scale, shift float32)

	// maxPoolGrad, if not nil, is the 3×3 max-pool gradient with the contract of
	// maxPoolGrad3x3AVX2; MaxPool3x3Grad falls back to its pure-Go twin otherwise.
	maxPoolGrad func(dxp []float32, ps int, xp []float32, ws int, dy []float32, h, w int)
	// max3, if not nil, is the element-wise maximum with the contract of max3AVX2.
	max3 func(dst, a, b, c []float32)
	// allAboveNegInf, if not nil, is the check of max-pool inputs with the contract of
	// allAboveNegInfAVX2.
	allAboveNegInf func(x []float32) bool
	// copyRows, if not nil, is the strided row copy with the contract of copyRowsAVX2.
	copyRows func(dst []float32, ds int, src []float32, w, h int)
	// f16to32 and f32to16, if not nil, are the binary16 conversions with the contracts of
	// float16ToFloat32F16C and float32ToFloat16F16C.
	f16to32 func(dst []float32, src []uint16)
	f32to16 func(dst []uint16, src []float32)
}

var genericVector = &vectorImpl{
	name:       "generic",
	block:      1,
	sumSquares: sumSquaresGeneric,
	scaleShift: func(dst, src []float32, scale, shift float32) {
		scaleShiftGeneric(dst, src, scale, shift, false)
	},
	scaleShiftReLU: func(dst, src []float32, scale, shift float32) {
		scaleShiftGeneric(dst, src, scale, shift, true)
	},
	gradSums: func(dy, x []float32, mean float32) (float64, float64) {
		return batchNormGradSumsGeneric(dy, x, mean, nil)
	},
	gradSumsReLU: func(dy, x []float32, mean, scale, shift float32) (float64, float64) {
		return batchNormGradSumsGeneric(dy, x, mean, &NormReLU{scale, shift})
	},
	gradInput: func(dx, dy, x []float32, mean, a, b, c float32) {
		batchNormGradInputGeneric(dx, dy, x, mean, a, b, c, nil)
	},
	gradInputReLU: func(dx, dy, x []float32, mean, a, b, c, scale, shift float32) {
		batchNormGradInputGeneric(dx, dy, x, mean, a, b, c, &NormReLU{scale, shift})
	},
}

// activeVector is the implementation that the element-wise kernels use.
var activeVector atomic.Pointer[vectorImpl]

func init() {
	activeVector.Store(vectorImpls()[0])
}

// vectorImpls returns the implementations that this CPU and build can run, fastest first.
// The last one is always the pure-Go twin.
func vectorImpls() []*vectorImpl {
	return append(asmVectorImpls(), genericVector)
}

// useVectorImpl makes impl the active implementation and returns a function that restores
// the previous one.
func useVectorImpl(impl *vectorImpl) (restore func()) {
	previous := activeVector.Swap(impl)
	return func() { activeVector.Store(previous) }
}
