package predictor

import (
	"encoding/binary"
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
	// The ensemble's ScoreMean and ScoreStd, each F32 [K].
	scoreMeanName = "score.mean"
	scoreStdName  = "score.std"
	// orderingsName is the model's Orderings as an I32 scalar (shape []). Files written
	// before the option existed lack it and load with Orderings 1.
	orderingsName = "orderings"
)

// Save writes the model to a safetensors file: the weights and batch-norm statistics under
// the names of Model.tensors (conv1.weight, bn1.gamma, bn1.moving_mean, fc1.bias, …), the
// standardizer as two F32 [19, 7, 7] tensors, the training hashes, and the number of vertex
// orderings (Orderings, 0 written as 1).
func (m *Model) Save(path string) error {
	if m.Standardizer == nil {
		return fmt.Errorf("predictor: cannot save a model without a standardizer")
	}
	raw := weightTensors(m, "")
	shared, err := sharedTensors(m)
	if err != nil {
		return err
	}
	return nn.WriteSafetensorsRawFile(path, append(raw, shared...))
}

// Save writes the ensemble to a safetensors file. Member k's weights take the names of
// Model.Save with the prefix "member{k+1}." (member1.conv1.weight, …). The shared
// standardizer, training hashes and number of vertex orderings are written once, as
// Model.Save writes them, and the score statistics as the F32 [K] tensors score.mean and
// score.std.
func (e *Ensemble) Save(path string) error {
	if err := e.check(); err != nil {
		return err
	}
	var raw []nn.RawTensor
	for k, m := range e.Members {
		raw = append(raw, weightTensors(m, memberPrefix(k))...)
	}
	shared, err := sharedTensors(e.Members[0])
	if err != nil {
		return err
	}
	raw = append(raw, shared...)
	for _, s := range []struct {
		name   string
		values []float32
	}{{scoreMeanName, e.ScoreMean}, {scoreStdName, e.ScoreStd}} {
		t, err := tensor.FromFloat32(s.values, len(s.values))
		if err != nil {
			return err
		}
		raw = append(raw, nn.NewRawTensor(s.name, t))
	}
	return nn.WriteSafetensorsRawFile(path, raw)
}

func memberPrefix(k int) string { return fmt.Sprintf("member%d.", k+1) }

func weightTensors(m *Model, prefix string) []nn.RawTensor {
	var raw []nn.RawTensor
	for _, t := range m.tensors() {
		raw = append(raw, nn.NewRawTensor(prefix+t.name, t.t))
	}
	return raw
}

// sharedTensors returns the model's standardizer, training hashes and number of vertex
// orderings as file tensors.
func sharedTensors(m *Model) ([]nn.RawTensor, error) {
	var raw []nn.RawTensor
	for _, s := range []struct {
		name string
		e    *nasbench.Encoding
	}{{standardizerMeanName, &m.Standardizer.Mean}, {standardizerStdName, &m.Standardizer.Std}} {
		t, err := tensor.FromFloat32(s.e.Floats(), nasbench.EncodingChannels, side, side)
		if err != nil {
			return nil, err
		}
		raw = append(raw, nn.NewRawTensor(s.name, t))
	}
	hashes := nn.RawTensor{Name: trainHashesName, DType: "U8",
		Shape: []int{len(m.TrainHashes), 16}}
	for _, h := range m.TrainHashes {
		sum, err := hex.DecodeString(h)
		if err != nil || len(sum) != 16 {
			return nil, fmt.Errorf("predictor: training hash %q is not 32 hex digits", h)
		}
		hashes.Data = append(hashes.Data, sum...)
	}
	orderings := nn.RawTensor{Name: orderingsName, DType: "I32", Shape: []int{},
		Data: binary.LittleEndian.AppendUint32(nil, uint32(m.orderings()))}
	return append(raw, hashes, orderings), nil
}

// Load reads a model written by Model.Save. The layer widths come from the tensor shapes.
func Load(path string) (*Model, error) {
	raw, err := nn.ReadSafetensorsRawFile(path)
	if err != nil {
		return nil, err
	}
	m, err := decodeModel(indexTensors(raw), "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// LoadEnsemble reads an ensemble written by Ensemble.Save, or a model written by
// Model.Save as an ensemble of one member whose scores are left unscaled.
func LoadEnsemble(path string) (*Ensemble, error) {
	raw, err := nn.ReadSafetensorsRawFile(path)
	if err != nil {
		return nil, err
	}
	e, err := decodeEnsemble(indexTensors(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}

func indexTensors(raw []nn.RawTensor) map[string]nn.RawTensor {
	byName := map[string]nn.RawTensor{}
	for _, t := range raw {
		byName[t.Name] = t
	}
	return byName
}

func decodeEnsemble(byName map[string]nn.RawTensor) (*Ensemble, error) {
	if _, ok := byName[scoreMeanName]; !ok {
		m, err := decodeModel(byName, "")
		if err != nil {
			return nil, err
		}
		return &Ensemble{Members: []*Model{m}, ScoreMean: []float32{0},
			ScoreStd: []float32{1}}, nil
	}
	e := &Ensemble{}
	for _, s := range []struct {
		name   string
		values *[]float32
	}{{scoreMeanName, &e.ScoreMean}, {scoreStdName, &e.ScoreStd}} {
		t, err := tensorNamed(byName, s.name)
		if err != nil {
			return nil, err
		}
		if t.Rank() != 1 {
			return nil, fmt.Errorf("predictor model: tensor %q has shape %v, want [K]",
				s.name, t.Shape())
		}
		*s.values = t.Float32s()
	}
	for k := range e.ScoreMean {
		m, err := decodeModel(byName, memberPrefix(k))
		if err != nil {
			return nil, err
		}
		if k > 0 {
			m.Standardizer = e.Members[0].Standardizer
		}
		e.Members = append(e.Members, m)
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	return e, nil
}

// tensorNamed returns the tensor of that name as float32.
func tensorNamed(byName map[string]nn.RawTensor, name string) (*tensor.Tensor, error) {
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

// decodeModel reads the weights named with prefix, and the standardizer, training hashes and
// number of vertex orderings, which have no prefix.
func decodeModel(byName map[string]nn.RawTensor, prefix string) (*Model, error) {
	get := func(name string) (*tensor.Tensor, error) {
		return tensorNamed(byName, prefix+name)
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
	getShared := func(name string) (*tensor.Tensor, error) { return tensorNamed(byName, name) }
	if m.Standardizer, err = decodeStandardizer(getShared); err != nil {
		return nil, err
	}
	if m.TrainHashes, err = decodeHashes(byName); err != nil {
		return nil, err
	}
	if m.Orderings, err = decodeOrderings(byName); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeOrderings returns the stored number of vertex orderings, or 1 when the file has none.
func decodeOrderings(byName map[string]nn.RawTensor) (int, error) {
	t, ok := byName[orderingsName]
	if !ok {
		return 1, nil
	}
	if t.DType != "I32" || t.NumElements() != 1 || len(t.Data) != 4 {
		return 0, fmt.Errorf("predictor model: tensor %q is %s %v, want one I32 value",
			orderingsName, t.DType, t.Shape)
	}
	k := int32(binary.LittleEndian.Uint32(t.Data))
	if k < 1 {
		return 0, fmt.Errorf("predictor model: tensor %q is %d, want a positive count",
			orderingsName, k)
	}
	return int(k), nil
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
