package kernels

import "github.com/renasgo/renas/tensor"

// Float16ToFloat32s converts the IEEE 754 binary16 bit patterns src[:len(dst)] to float32,
// exactly. NaNs stay NaNs; the F16C path also quiets signalling ones. It panics if src is
// shorter than dst.
func Float16ToFloat32s(dst []float32, src []uint16) {
	checkLen("Float16ToFloat32s", "src", len(src), len(dst))
	n := 0
	if f := activeVector.Load().f16to32; f != nil {
		n = len(dst) / 8 * 8
		f(dst[:n], src[:n])
	}
	for i := n; i < len(dst); i++ {
		dst[i] = tensor.Float16ToFloat32(src[i])
	}
}

// Float32ToFloat16s converts src[:len(dst)] to the nearest binary16 values, ties to even, as
// tensor.Float32ToFloat16 does: values beyond the range become infinities and NaNs stay
// quiet NaNs. It panics if src is shorter than dst.
func Float32ToFloat16s(dst []uint16, src []float32) {
	checkLen("Float32ToFloat16s", "src", len(src), len(dst))
	n := 0
	if f := activeVector.Load().f32to16; f != nil {
		n = len(dst) / 8 * 8
		f(dst[:n], src[:n])
	}
	for i := n; i < len(dst); i++ {
		dst[i] = tensor.Float32ToFloat16(src[i])
	}
}
