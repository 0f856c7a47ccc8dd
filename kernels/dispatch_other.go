//go:build !amd64 || noasm

package kernels

// asmGemmImpls returns no implementations because this build has no assembly.
func asmGemmImpls() []*gemmImpl { return nil }

// asmBF16GemmImpls returns no implementations because this build has no assembly.
func asmBF16GemmImpls() []*bf16GemmImpl { return nil }

// fmaPeakProbes returns nil because this build has no assembly probe.
func fmaPeakProbes() []fmaProbe { return nil }

// asmVectorImpls returns no implementations because this build has no assembly.
func asmVectorImpls() []*vectorImpl { return nil }
