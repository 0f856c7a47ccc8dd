package nasnet

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/kernels"
)

// TestForwardAllocatesNothing checks that a forward pass allocates no heap memory, on
// average over 20 passes, once the buffers of its batch size exist. It covers both splits of
// the work: whole images per worker, and the columns of one image, in fp32 and with bf16
// convolutions.
func TestForwardAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	for _, bf16 := range []bool{false, true} {
		if bf16 && !kernels.HasBF16() {
			t.Log("no bf16 kernels on this CPU or build: bf16 convolutions not checked")
			continue
		}
		net, err := New(8, 3)
		require.NoError(t, err)
		be, err := cpu.NewWithOptions(backend.Options{Threads: 2, BF16: bf16})
		require.NoError(t, err)
		inf, err := NewInference(be, net)
		require.NoError(t, err)
		r := rand.New(rand.NewPCG(5, 6))
		for _, batch := range []int{4, 1} {
			data := make([]float32, batch*3*ImageSize*ImageSize)
			for i := range data {
				data[i] = float32(r.NormFloat64())
			}
			x := mustTensor(t, data, batch, 3, ImageSize, ImageSize)
			_, err := inf.Forward(x)
			require.NoError(t, err)
			// The GEMM workspaces come from a sync.Pool, which a garbage collection empties,
			// so the first passes after the allocations above may refill it.
			allocs := testing.AllocsPerRun(20, func() {
				if _, err := inf.Forward(x); err != nil {
					t.Fatal(err)
				}
			})
			assert.Zero(t, allocs, "allocations per forward pass at batch %d, bf16 %v", batch,
				bf16)
		}
	}
}
