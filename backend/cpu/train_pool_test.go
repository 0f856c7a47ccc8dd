package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/renasgo/renas/backend"
)

// TestMaxPool3x3SameBackwardMatchesWindowScan compares the two-pass gradient with the plain
// window scan of poolPlaneBackward, on values from a few levels so that windows have ties.
func TestMaxPool3x3SameBackwardMatchesWindowScan(t *testing.T) {
	d := backend.PoolDesc{Kind: backend.MaxPool, KernelH: 3, KernelW: 3, StrideH: 1,
		StrideW: 1, Padding: backend.Same}
	r := rand.New(rand.NewPCG(61, 62))
	for _, size := range [][2]int{{1, 1}, {1, 5}, {5, 1}, {2, 2}, {7, 9}, {8, 8}, {32, 32}} {
		h, w := size[0], size[1]
		x, dy := make([]float32, h*w), make([]float32, h*w)
		for i := range x {
			x[i] = float32(r.IntN(4))
			dy[i] = r.Float32() - 0.5
		}
		want, got := make([]float32, h*w), make([]float32, h*w)
		for i := range want {
			want[i] = r.Float32()
			got[i] = want[i]
		}
		poolPlaneBackward(d, want, x, dy, h, w, h, w, 1, 1)
		maxPool3x3SameBackward(got, x, dy, make([]int32, h*w), h, w)
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-6 {
				t.Fatalf("%d×%d plane: dx[%d] = %v, the window scan gives %v", h, w, i, got[i],
					want[i])
			}
		}
	}
}
