package cpu

import (
	"fmt"
	"math"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
)

// sameParams checks that the buffers are whole parameters of one shape and returns their data.
func sameParams(op string, bufs ...backend.Buffer) ([][]float32, error) {
	out := make([][]float32, len(bufs))
	var first *Buffer
	for k, b := range bufs {
		p, err := asParam(b)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = p
		} else if !p.Shape().Equal(first.Shape()) {
			return nil, fmt.Errorf("%s: buffer %d has shape %v, parameter has %v", op, k,
				p.Shape(), first.Shape())
		}
		out[k] = p.data
	}
	return out, nil
}

// SGDUpdate applies one SGD step with momentum; see backend.Trainer.
func (b *Backend) SGDUpdate(pb, gb, vb backend.Buffer, lr, momentum, weightDecay float32,
	nesterov bool) error {
	s, err := sameParams("sgd", pb, gb, vb)
	if err != nil {
		return err
	}
	p, g, v := s[0], s[1], s[2]
	for i := range p {
		d := g[i] + weightDecay*p[i]
		v[i] = momentum*v[i] + d
		if nesterov {
			d += momentum * v[i]
		} else {
			d = v[i]
		}
		p[i] -= lr * d
	}
	return nil
}

// SumSquares returns Σx² of a parameter buffer; see backend.Trainer.
func (b *Backend) SumSquares(xb backend.Buffer) (float64, error) {
	s, err := sameParams("sum of squares", xb)
	if err != nil {
		return 0, err
	}
	_, sumSq := kernels.SumSquares(s[0])
	return sumSq, nil
}

// Scale multiplies a parameter buffer by alpha; see backend.Trainer.
func (b *Backend) Scale(xb backend.Buffer, alpha float32) error {
	s, err := sameParams("scale", xb)
	if err != nil {
		return err
	}
	kernels.ScaleShift(s[0], s[0], alpha, 0, false)
	return nil
}

// AdamUpdate applies step t of Adam; see backend.Trainer.
func (b *Backend) AdamUpdate(pb, gb, mb, vb backend.Buffer, lr, beta1, beta2, eps,
	weightDecay float32, t int) error {
	if t < 1 {
		return fmt.Errorf("adam: step must be at least 1, got %d", t)
	}
	s, err := sameParams("adam", pb, gb, mb, vb)
	if err != nil {
		return err
	}
	p, g, m, v := s[0], s[1], s[2], s[3]
	c1 := 1 - math.Pow(float64(beta1), float64(t))
	c2 := 1 - math.Pow(float64(beta2), float64(t))
	for i := range p {
		gi := g[i] + weightDecay*p[i]
		m[i] = beta1*m[i] + (1-beta1)*gi
		v[i] = beta2*v[i] + (1-beta2)*gi*gi
		mh := float64(m[i]) / c1
		vh := float64(v[i]) / c2
		p[i] -= float32(float64(lr) * mh / (math.Sqrt(vh) + float64(eps)))
	}
	return nil
}
