package nasnet

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/tensor"
)

// gradientCheck compares directional derivatives of a float32 network's loss with its
// gradients.
type gradientCheck struct {
	t      *testing.T
	tr     *Trainer
	x      *tensor.Tensor
	labels []uint8
	r      *rand.Rand
}

// loss runs the forward pass, or only the last module and the head when fromLast is set,
// and returns the loss. With backward, it also runs the whole backward pass.
func (c *gradientCheck) loss(fromLast, backward bool) float64 {
	t, tr := c.t, c.tr
	if fromLast {
		last := tr.modules[2][2]
		require.NoError(t, tr.forwardModule(last))
		require.NoError(t, tr.avgOp.Run(last.bufs.y, tr.avgOut))
		head := tr.paramByName
		require.NoError(t, tr.be.LinearForward(tr.avgOut, head["linear.weight"].value,
			head["linear.bias"].value, tr.logits))
	} else {
		require.NoError(t, tr.be.Upload(tr.input, c.x))
		require.NoError(t, tr.forward())
	}
	require.NoError(t, tr.be.Download(tr.host, tr.logits))
	loss, _ := tr.lossGradient(c.labels)
	if backward {
		require.NoError(t, tr.be.Upload(tr.dLogits, tr.hostGrad))
		require.NoError(t, tr.backward())
	}
	return loss
}

// direction returns a random unit vector of n elements.
func (c *gradientCheck) direction(n int) []float32 {
	d := make([]float32, n)
	var norm float64
	for i := range d {
		d[i] = float32(c.r.NormFloat64())
		norm += float64(d[i]) * float64(d[i])
	}
	for i := range d {
		d[i] /= float32(math.Sqrt(norm))
	}
	return d
}

// derivative moves buf along a random direction by ±eps, returns the central difference of
// loss and the dot product of the direction with grad, and restores buf.
func (c *gradientCheck) derivative(buf backend.Buffer, grad []float32,
	loss func() float64) (numeric, analytic float64) {
	const eps = 1e-3
	t, be := c.t, c.tr.be
	shape := buf.Shape()
	value := tensor.Zeros(shape...)
	require.NoError(t, be.Download(value, buf))
	dir := c.direction(value.Len())
	for i, d := range dir {
		analytic += float64(d) * float64(grad[i])
	}
	at := func(step float32) float64 {
		moved := tensor.Zeros(shape...)
		for i, v := range value.Float32s() {
			moved.Float32s()[i] = v + step*dir[i]
		}
		require.NoError(t, be.Upload(buf, moved))
		return loss()
	}
	numeric = (at(eps) - at(-eps)) / (2 * eps)
	require.NoError(t, be.Upload(buf, value))
	return numeric, analytic
}

// TestBench101GradientsMatchFiniteDifferences checks the gradients of the last module's
// parameters and input, and of the head, on cells that cover every wiring rule. Earlier
// layers are left out: through eight more modules of training-mode batch normalization at
// this width, the float32 loss is too rough for finite differences, for the ReNAS network
// as well.
func TestBench101GradientsMatchFiniteDifferences(t *testing.T) {
	const n, width = 8, 16
	r := rand.New(rand.NewPCG(5, 6))
	host := make([]float32, n*3*ImageSize*ImageSize)
	for i := range host {
		host[i] = float32(r.NormFloat64())
	}
	be, err := cpu.NewWithOptions(backend.Options{Threads: 2, DirectConv: true})
	require.NoError(t, err)
	defer be.Close()
	for k, cell := range referenceCells(t) {
		net, err := NewBench101(cell, width, uint64(k+1))
		require.NoError(t, err)
		tr, err := NewTrainer(be, net, TrainConfig{BatchSize: n, LabelSmoothing: 0.1})
		require.NoError(t, err)
		c := &gradientCheck{t: t, tr: tr, x: mustTensor(t, host, n, 3, ImageSize, ImageSize),
			labels: []uint8{3, 1, 7, 3, 0, 9, 2, 5}, r: r}
		c.loss(false, true)
		checked := 0
		for _, p := range tr.params {
			if !strings.HasPrefix(p.name, "stack2.module2.") &&
				!strings.HasPrefix(p.name, "linear.") {
				continue
			}
			grad := tensor.Zeros(bufferShape(p.host.Shape())...)
			require.NoError(t, be.Download(grad, p.grad))
			numeric, analytic := c.derivative(p.value, grad.Float32s(),
				func() float64 { return c.loss(false, false) })
			// The float32 loss, about 2.3, moves by rounding alone by a few 1e-7 between
			// evaluations, which the central difference divides by 2·eps = 2e-3: its
			// absolute noise is about 1e-4, and the bound allows twice that.
			assert.InDelta(t, numeric, analytic, 0.02*math.Abs(numeric)+2e-4, "cell %d, %s",
				k, p.name)
			checked++
		}
		assert.GreaterOrEqual(t, checked, 3, "cell %d", k)

		// The input gradient of the last module, before the module before it overwrites it
		// with its backward pass.
		last := tr.modules[2][2]
		c.loss(false, false)
		require.NoError(t, be.Upload(tr.dLogits, tr.hostGrad))
		head := tr.paramByName
		w, b := head["linear.weight"], head["linear.bias"]
		require.NoError(t, be.LinearBackward(tr.avgOut, w.value, tr.dLogits, tr.dAvg, w.grad,
			b.grad, false))
		require.NoError(t, be.PoolBackward(tr.avg, last.bufs.y, tr.dAvg, last.dY, false))
		require.NoError(t, tr.backwardModule(last))
		dX := tensor.Zeros(last.dX.Shape()...)
		require.NoError(t, be.Download(dX, last.dX))
		numeric, analytic := c.derivative(last.bufs.x, dX.Float32s(),
			func() float64 { return c.loss(true, false) })
		assert.InDelta(t, numeric, analytic, 0.02*math.Abs(numeric)+1e-4,
			"cell %d, input of the last module", k)
	}
}
