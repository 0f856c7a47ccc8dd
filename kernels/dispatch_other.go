//go:build !amd64 || noasm

package kernels

// asmGemmImpls returns no implementations because this build has no assembly.
func asmGemmImpls() []*gemmImpl { return nil }

// fmaPeakProbe returns nil because this build has no assembly probe.
func fmaPeakProbe() func(n int, x, y float32) float32 { return nil }

// asmVectorImpls returns no implementations because this build has no assembly.
func asmVectorImpls() []*vectorImpl { return nil }
