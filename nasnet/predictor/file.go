package predictor

import (
	"encoding/hex"
	"fmt"

	"github.com/renasgo/renas/nasnet/nasbench"
	"github.com/renasgo/renas/nn"
	"github.com/renasgo/renas/tensor"
)

// Names of the non-weight tensors of a model file.
const (
	standardizerMeanName = "standardizer.mean"
	standardizerStdName  = "standardizer.std"
	// trainHashesName is a U8 tensor [N, 16], one NAS-Bench-101 hash (MD5) a row.
	trainHashesName = "train_hashes"
)

// Save writes the model to a safetensors file: the weights and batch-norm statistics under
// the names of Model.tensors (conv1.weight, bn1.gamma, bn1.moving_mean, fc1.bias, …), the
// standardizer as two F32 [19, 7, 7] tensors, and the training hashes.
func (m *Model) Save(path string) error {
	if m.Standardizer == nil {
		return fmt.Errorf("predictor: cannot save a model without a standardizer")
	}
	var raw []nn.RawTensor
	for _, t := range m.tensors() {
		raw = append(raw, nn.NewRawTensor(t.name, t.t))
	}
	for _, s := range []struct {
		name string
		e    *nasbench.Encoding
	}{{standardizerMeanName, &m.Standardizer.Mean}, {standardizerStdName, &m.Standardizer.Std}} {
		t, err := tensor.FromFloat32(s.e.Floats(), nasbench.EncodingChannels, side, side)
		if err != nil {
			return err
		}
		raw = append(raw, nn.NewRawTensor(s.name, t))
	}
	hashes := nn.RawTensor{Name: trainHashesName, DType: "U8",
		Shape: []int{len(m.TrainHashes), 16}}
	for _, h := range m.TrainHashes {
		sum, err := hex.DecodeString(h)
		if err != nil || len(sum) != 16 {
			return fmt.Errorf("predictor: training hash %q is not 32 hex digits", h)
		}
		hashes.Data = append(hashes.Data, sum...)
	}
	raw = append(raw, hashes)
	return nn.WriteSafetensorsRawFile(path, raw)
}

// Load reads a model written by Save. The layer widths come from the tensor shapes.
func Load(path string) (*Model, error) {
	raw, err := nn.ReadSafetensorsRawFile(path)
	if err != nil {
		return nil, err
	}
	m, err := decodeModel(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func decodeModel(raw []nn.RawTensor) (*Model, error) {
	byName := map[string]nn.RawTensor{}
	for _, t := range raw {
		byName[t.Name] = t
	}
	get := func(name string) (*tensor.Tensor, error) {
		r, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("predictor model: tensor %q is missing", name)
		}
		t, err := r.Tensor()
		if err != nil {
			return nil, fmt.Errorf("predictor model: %w", err)
		}
		return t.ToFloat32(), nil
	}
	m := &Model{}
	for k := range m.Conv {
		w, err := get(fmt.Sprintf("conv%d.weight", k+1))
		if err != nil {
			return nil, err
		}
		if w.Rank() != 4 {
			return nil, fmt.Errorf("predictor model: conv%d.weight has shape %v, want 4-D",
				k+1, w.Shape())
		}
		m.Config.Channels[k] = w.Dim(0)
	}
	for k := range 2 {
		w, err := get(fmt.Sprintf("fc%d.weight", k+1))
		if err != nil {
			return nil, err
		}
		if w.Rank() != 2 {
			return nil, fmt.Errorf("predictor model: fc%d.weight has shape %v, want 2-D",
				k+1, w.Shape())
		}
		m.Config.Hidden[k] = w.Dim(0)
	}
	if err := m.Config.check(); err != nil {
		return nil, err
	}
	// Start from a model of the right shapes, so that every tensor has a shape to match.
	want, err := NewModel(m.Config, 0)
	if err != nil {
		return nil, err
	}
	for _, nt := range want.tensors() {
		t, err := get(nt.name)
		if err != nil {
			return nil, err
		}
		if !t.Shape().Equal(nt.t.Shape()) {
			return nil, fmt.Errorf("predictor model: tensor %q has shape %v, want %v", nt.name,
				t.Shape(), nt.t.Shape())
		}
		copy(nt.t.Float32s(), t.Float32s())
	}
	*m = *want
	if m.Standardizer, err = decodeStandardizer(get); err != nil {
		return nil, err
	}
	if m.TrainHashes, err = decodeHashes(byName); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeStandardizer(get func(string) (*tensor.Tensor, error)) (*nasbench.Standardizer,
	error) {
	z := &nasbench.Standardizer{}
	for _, s := range []struct {
		name string
		e    *nasbench.Encoding
	}{{standardizerMeanName, &z.Mean}, {standardizerStdName, &z.Std}} {
		t, err := get(s.name)
		if err != nil {
			return nil, err
		}
		if !t.Shape().Equal(tensor.Shape{nasbench.EncodingChannels, side, side}) {
			return nil, fmt.Errorf("predictor model: tensor %q has shape %v, want [%d %d %d]",
				s.name, t.Shape(), nasbench.EncodingChannels, side, side)
		}
		f := t.Float32s()
		for c := range s.e {
			for i := range s.e[c] {
				copy(s.e[c][i][:], f[(c*side+i)*side:])
			}
		}
	}
	return z, nil
}

func decodeHashes(byName map[string]nn.RawTensor) ([]string, error) {
	hashes, ok := byName[trainHashesName]
	if !ok {
		return nil, fmt.Errorf("predictor model: tensor %q is missing", trainHashesName)
	}
	if hashes.DType != "U8" || len(hashes.Shape) != 2 || hashes.Shape[1] != 16 {
		return nil, fmt.Errorf("predictor model: tensor %q is %s %v, want U8 [N 16]",
			trainHashesName, hashes.DType, hashes.Shape)
	}
	var out []string
	for i := range hashes.Shape[0] {
		out = append(out, hex.EncodeToString(hashes.Data[i*16:(i+1)*16]))
	}
	return out, nil
}
