package nasnet

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/kernels"
)

// BenchmarkTrainStep measures one SGD step (forward, backward, update) at batch 128 on random
// images, with one thread per GOMAXPROCS, at the published width, at the built-in model's
// width (64) and at 32.
func BenchmarkTrainStep(b *testing.B) {
	for _, width := range []int{DefaultWidth, 64, 32} {
		name := fmt.Sprintf("width=%d,batch=128,threads=%d/%s", width, runtime.GOMAXPROCS(0),
			kernels.Path())
		b.Run(name, func(b *testing.B) { benchmarkTrainStep(b, width, 128) })
	}
}

func benchmarkTrainStep(b *testing.B, width, batch int) {
	net, err := New(width, 1)
	if err != nil {
		b.Fatal(err)
	}
	be, err := cpu.New(0)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := NewTrainer(be, net, TrainConfig{BatchSize: batch, Momentum: 0.9,
		WeightDecay: 5e-4, LabelSmoothing: 0.1})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	data := make([]float32, batch*3*ImageSize*ImageSize)
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	labels := make([]uint8, batch)
	for i := range labels {
		labels[i] = uint8(r.IntN(NumClasses))
	}
	x := mustTensor(b, data, batch, 3, ImageSize, ImageSize)
	if _, _, err := tr.Step(x, labels, 0.01); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, _, err := tr.Step(x, labels, 0.01); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
}
