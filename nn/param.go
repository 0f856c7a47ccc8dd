// Package nn provides the layers of the engine, their named parameters and checkpoints.
//
// Parameter names follow MindSpore, so checkpoints trained there load here unchanged:
// convolution and dense layers have "weight" (and "bias"), batch normalization has
// "gamma", "beta", "moving_mean" and "moving_variance".
package nn

import (
	"fmt"
	"slices"
	"strings"

	"github.com/renasgo/renas/tensor"
)

// Param is a named tensor of a model. Trainable is false for running statistics, which a
// checkpoint stores but an optimizer never updates.
type Param struct {
	Name      string
	Value     *tensor.Tensor
	Trainable bool
}

// CountTrainable returns the number of trainable scalars in params.
func CountTrainable(params []Param) int {
	n := 0
	for _, p := range params {
		if p.Trainable {
			n += p.Value.Len()
		}
	}
	return n
}

// LoadError lists every way in which a checkpoint failed to match a model.
type LoadError struct {
	Missing    []string // names the model has and the checkpoint lacks
	Unexpected []string // names the checkpoint has and the model lacks
	Mismatched []string // "name: checkpoint [..], model [..]"
}

func (e *LoadError) Error() string {
	var parts []string
	add := func(what string, names []string) {
		if len(names) == 0 {
			return
		}
		const show = 5
		list := strings.Join(names[:min(len(names), show)], ", ")
		if len(names) > show {
			list += fmt.Sprintf(", and %d more", len(names)-show)
		}
		parts = append(parts, fmt.Sprintf("%d %s (%s)", len(names), what, list))
	}
	add("missing", e.Missing)
	add("unexpected", e.Unexpected)
	add("with the wrong shape", e.Mismatched)
	return "checkpoint does not match the model: " + strings.Join(parts, "; ")
}

// LoadStrict copies tensors into params by name. Every parameter must be present with the same
// shape and no other tensor may be present, except names for which ignore returns true
// (ignore may be nil). On a mismatch nothing is copied and the error is a *LoadError listing
// every problem. Float16 and BFloat16 tensors are converted to the parameter's Float32.
func LoadStrict(params []Param, tensors map[string]*tensor.Tensor,
	ignore func(name string) bool) error {
	e := &LoadError{}
	known := make(map[string]bool, len(params))
	for _, p := range params {
		known[p.Name] = true
		t, ok := tensors[p.Name]
		switch {
		case !ok:
			e.Missing = append(e.Missing, p.Name)
		case !t.Shape().Equal(p.Value.Shape()):
			e.Mismatched = append(e.Mismatched, fmt.Sprintf("%s: checkpoint %v, model %v",
				p.Name, t.Shape(), p.Value.Shape()))
		}
	}
	for name := range tensors {
		if !known[name] && (ignore == nil || !ignore(name)) {
			e.Unexpected = append(e.Unexpected, name)
		}
	}
	slices.Sort(e.Unexpected)
	if len(e.Missing)+len(e.Unexpected)+len(e.Mismatched) > 0 {
		return e
	}
	for _, p := range params {
		copy(p.Value.Float32s(), tensors[p.Name].ToFloat32().Float32s())
	}
	return nil
}
