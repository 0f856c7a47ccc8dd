package nasnet

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/kernels"
)

// BenchmarkForward measures inference of the whole network on random inputs, with one
// thread per GOMAXPROCS, at the published width, at the built-in model's width (64) and at
// 32; images/s is the figure that bench/compare.sh sets against PyTorch.
func BenchmarkForward(b *testing.B) {
	for _, width := range []int{DefaultWidth, 64, 32} {
		for _, batch := range []int{32, 1} {
			for _, precision := range []string{"fp32", "bf16"} {
				name := fmt.Sprintf("width=%d,batch=%d,precision=%s,threads=%d/%s", width,
					batch, precision, runtime.GOMAXPROCS(0), kernels.Path())
				b.Run(name, func(b *testing.B) {
					if precision == "bf16" && !kernels.HasBF16() {
						b.Skip("no bf16 kernels on this CPU or build")
					}
					benchmarkForward(b, width, batch, precision == "bf16")
				})
			}
		}
	}
}

func benchmarkForward(b *testing.B, width, batch int, bf16 bool) {
	net, err := New(width, 1)
	if err != nil {
		b.Fatal(err)
	}
	be, err := cpu.NewWithOptions(backend.Options{BF16: bf16})
	if err != nil {
		b.Fatal(err)
	}
	inf, err := NewInference(be, net)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	data := make([]float32, batch*3*ImageSize*ImageSize)
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	x := mustTensor(b, data, batch, 3, ImageSize, ImageSize)
	if _, err := inf.Forward(x); err != nil { // allocates the buffers
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := inf.Forward(x); err != nil {
			b.Fatal(err)
		}
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*batch)/secs, "images/s")
	b.ReportMetric(float64(b.N)*float64(batch)*float64(net.MACs())*2/secs/1e9, "GFLOP/s")
}
