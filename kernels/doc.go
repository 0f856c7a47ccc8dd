// Package kernels contains the single-threaded fp32 compute kernels of the engine: a packed-panel
// matrix multiply (Sgemm, SgemmPacked), the im2col lowering that turns a convolution into that
// multiply (Im2col), and the bias and ReLU epilogue (BiasReLU).
//
// All matrices are row-major with an explicit row stride in elements. A convolution over one
// NCHW image is computed as
//
//	weight [Cout, Cin·kh·kw] × columns [Cin·kh·kw, outH·outW] = output [Cout, outH·outW]
//
// where the output rows are the channel planes of the image. A row stride ldc larger than
// outH·outW lets the output be a channel slice of a larger buffer:
//
//	c[i*ldc + j], 0 <= i < m, 0 <= j < n
//	row 0: | n elements written | ldc-n elements left alone |
//	row 1: | n elements written | ldc-n elements left alone |
//
// Kernels written in assembly have a pure-Go twin with the same signature, and the package
// selects one implementation at start-up from the CPU features (see Path). The build tag noasm,
// or any architecture other than amd64, selects pure Go everywhere.
package kernels

//go:generate go run -C _asm . -out ../kernels_amd64.s -stubs ../kernels_amd64.go
