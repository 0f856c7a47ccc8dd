package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
)

// TestMaxPool3x3GradMatchesWindowScan compares the kernel that PoolBackward uses for 3×3
// "same" max pools with the window scan of poolPlaneBackward, on values from a few levels so
// that windows have ties.
func TestMaxPool3x3GradMatchesWindowScan(t *testing.T) {
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
		kernels.MaxPool3x3Grad(got, x, dy, h, w, &kernels.MaxPoolScratch{})
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-6 {
				t.Fatalf("%d×%d plane: dx[%d] = %v, the window scan gives %v", h, w, i, got[i],
					want[i])
			}
		}
	}
}
