package cpu

import (
	"fmt"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/tensor"
)

// linear computes y[n, o] = Σ_f x[n, f]·weight[o, f] + bias[o] as one product of the
// flattened batch and the transposed weight.
type linear struct {
	in, out int
	weightT []float32 // [in, out]
	bias    []float32
	shapes  shapeCache
}

// NewLinear plans a fully connected layer.
func (b *Backend) NewLinear(weight, bias *tensor.Tensor) (backend.Op, error) {
	if weight == nil || weight.Rank() != 2 {
		return nil, fmt.Errorf("linear: weight shape %v, want [out, in]", shape(weight))
	}
	out, in := weight.Dim(0), weight.Dim(1)
	if bias != nil && !bias.Shape().Equal(tensor.Shape{out}) {
		return nil, fmt.Errorf("linear: bias shape %v, want [%d]", bias.Shape(), out)
	}
	op := &linear{in: in, out: out, weightT: make([]float32, in*out),
		bias: make([]float32, out)}
	w := weight.ToFloat32().Float32s()
	for o := range out {
		for f := range in {
			op.weightT[f*out+o] = w[o*in+f]
		}
	}
	if bias != nil {
		copy(op.bias, bias.ToFloat32().Float32s())
	}
	return op, nil
}

func (op *linear) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	if len(in) != 4 {
		return nil, fmt.Errorf("linear: input shape %v is not NCHW", in)
	}
	if f := in[1] * in[2] * in[3]; f != op.in {
		return nil, fmt.Errorf("linear: input has %d features (%v), weight expects %d",
			f, in, op.in)
	}
	return tensor.Shape{in[0], op.out, 1, 1}, nil
}

func (op *linear) Run(xb, yb backend.Buffer) error {
	x, y, err := asBuffers(xb, yb)
	if err != nil {
		return err
	}
	if op.shapes.lookup(x, y) == nil {
		want, err := op.OutputShape(x.Shape())
		if err != nil {
			return err
		}
		if err := checkShape("linear", "output", y, want); err != nil {
			return err
		}
		op.shapes.store(x, y)
	}
	kernels.Sgemm(x.n, op.out, op.in, x.data, x.batchStride, op.weightT, op.out, y.data,
		y.batchStride, false)
	for i := range x.n {
		row := y.image(i)
		for o, b := range op.bias {
			row[o] += b
		}
	}
	return nil
}
