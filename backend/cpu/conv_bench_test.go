package cpu

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/tensor"
)

// BenchmarkConv2D measures the convolution layers of the network at batch 32: the 3×3 C→C
// and 1×1 C→C/2 layers of each stack, with the fused bias and ReLU.
func BenchmarkConv2D(b *testing.B) {
	shapes := []struct{ in, out, k, side int }{
		{128, 128, 3, 32}, {128, 64, 1, 32}, {128, 128, 3, 16}, {128, 128, 3, 8},
		{3, 128, 3, 32}, {32, 32, 3, 32}, {16, 16, 3, 32}, {64, 64, 3, 16},
	}
	for _, s := range shapes {
		name := fmt.Sprintf("in=%d,out=%d,k=%d,hw=%d,batch=32,threads=%d/%s", s.in, s.out, s.k,
			s.side, runtime.GOMAXPROCS(0), kernels.Path())
		b.Run(name, func(b *testing.B) { benchmarkConv2D(b, s.in, s.out, s.k, s.side, 32) })
	}
}

func benchmarkConv2D(b *testing.B, in, out, k, side, batch int) {
	be, err := New(0)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	w := tensor.Zeros(out, in, k, k)
	for i := range w.Float32s() {
		w.Float32s()[i] = float32(r.NormFloat64())
	}
	d := backend.Conv2DDesc{InChannels: in, OutChannels: out, KernelH: k, KernelW: k,
		StrideH: 1, StrideW: 1, PadH: k / 2, PadW: k / 2, Activation: backend.ReLU}
	op, err := be.NewConv2D(d, w, tensor.Zeros(out))
	if err != nil {
		b.Fatal(err)
	}
	x, _ := be.NewBuffer(batch, in, side, side)
	y, _ := be.NewBuffer(batch, out, side, side)
	if err := op.Run(x, y); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := op.Run(x, y); err != nil {
			b.Fatal(err)
		}
	}
	flops := 2 * float64(batch*out*side*side*in*k*k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
