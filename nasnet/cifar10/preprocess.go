package cifar10

// Mean and Std are the per-channel statistics (R, G, B) used to normalize pixels scaled to
// [0, 1]; they are the values of the ReNAS evaluation code.
var (
	Mean = [3]float32{0.4914, 0.4822, 0.4465}
	Std  = [3]float32{0.2023, 0.1994, 0.2010}
)

// Normalize writes images [from, to) of s into dst as CHW float32 planes:
// (pixel/255 − Mean[c]) / Std[c], computed in float32 in that order as torchvision does.
// dst must hold (to−from)·3,072 values.
func (s *Set) Normalize(dst []float32, from, to int) {
	src := s.Images[from*ImageBytes : to*ImageBytes]
	for i, b := range src {
		c := (i % ImageBytes) / (32 * 32)
		v := float32(b) / 255
		dst[i] = (v - Mean[c]) / Std[c]
	}
}
