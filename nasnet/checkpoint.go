package nasnet

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/renasgo/renas/nasnet/nasbench"
	"github.com/renasgo/renas/nn"
	"github.com/renasgo/renas/nn/mindspore"
	"github.com/renasgo/renas/tensor"
)

// isOptimizerState reports whether a checkpoint entry is training state that MindSpore saves
// beside the weights: Momentum's buffers, learning rate and momentum, Adam's moments, beta
// powers and step, the loss-scale state, and the epoch and step counters of append_info.
func isOptimizerState(name string) bool {
	prefixes := []string{"moments.", "accum.", "moment1.", "moment2.", "moment.", "adam_m.",
		"adam_v.", "train.", "loss_scale."}
	for _, prefix := range prefixes {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	switch name {
	case "learning_rate", "global_step", "momentum", "step", "beta1_power", "beta2_power",
		"scale_sense", "current_iterator_step", "last_overflow_iterator_step", "epoch_num",
		"step_num":
		return true
	}
	return false
}

// LoadCheckpoint builds a network from the weights of a .safetensors or MindSpore .ckpt file,
// chosen by the extension. A width of 0 takes the width from the checkpoint's conv1.weight.
// Every parameter of the network must be present with its shape, as F32, F16 or BF16;
// optimizer state is ignored whatever its type, and any other extra tensor is an error.
// Errors name the file.
func LoadCheckpoint(path string, width int) (*Network, error) {
	return LoadCellCheckpoint(path, nil, width)
}

// LoadCellCheckpoint is LoadCheckpoint for the NAS-Bench-101 network around cell, or for the
// ReNAS network when cell is nil.
func LoadCellCheckpoint(path string, cell *nasbench.Spec, width int) (*Network, error) {
	raw, err := readRaw(path)
	if err != nil {
		return nil, err
	}
	return networkFromRaw(path, raw, cell, width)
}

// ReadCheckpoint is LoadCheckpoint for a .safetensors file of size bytes read from r, such as
// an embedded one. Errors start with name.
func ReadCheckpoint(name string, r io.Reader, size int64, width int) (*Network, error) {
	raw, err := nn.ReadSafetensorsRaw(r, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return networkFromRaw(name, raw, nil, width)
}

// networkFromRaw builds the network of a checkpoint's tensors; path names the checkpoint in
// errors.
func networkFromRaw(path string, raw []nn.RawTensor, cell *nasbench.Spec, width int) (*Network,
	error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("%s: checkpoint contains no tensors", path)
	}
	if width == 0 {
		var ok bool
		if width, ok = widthOf(raw); !ok {
			return nil, fmt.Errorf("%s: no 4-D conv1.weight to take the width from", path)
		}
	}
	if stored, ok := widthOf(raw); ok && stored != width {
		return nil, fmt.Errorf("%s: the checkpoint holds a width-%d network, not width %d "+
			"(leave out --width to use the checkpoint's)", path, stored, width)
	}
	net, err := newNetwork(cell, width, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if cell == nil && holdsModules(raw) {
		return nil, fmt.Errorf("%s: holds a NAS-Bench-101 network; give its cell (--cell)",
			path)
	}

	params := net.Params()
	known := make(map[string]bool, len(params))
	for _, p := range params {
		known[p.Name] = true
	}

	tensors := make(map[string]*tensor.Tensor, len(raw))
	for _, rt := range raw {
		switch {
		case isOptimizerState(rt.Name):
		case known[rt.Name]:
			t, err := rt.Tensor()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			tensors[rt.Name] = t
		default:
			// LoadStrict lists every unexpected name whatever its dtype, and never reads
			// the values of these placeholders.
			tensors[rt.Name] = tensor.Zeros()
		}
	}
	if err := nn.LoadStrict(params, tensors, isOptimizerState); err != nil {
		return nil, fmt.Errorf("%s: %w (network width %d)", path, err, width)
	}
	for _, p := range params {
		variance := strings.HasSuffix(p.Name, ".moving_variance")
		for _, v := range p.Value.Float32s() {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("%s: tensor %s contains NaN or infinite values", path,
					p.Name)
			}
			if variance && v < 0 {
				return nil, fmt.Errorf("%s: tensor %s contains negative values, which a "+
					"variance cannot have", path, p.Name)
			}
		}
	}
	return net, nil
}

// readRaw reads every tensor of a .safetensors or .ckpt file.
func readRaw(path string) ([]nn.RawTensor, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".safetensors":
		return nn.ReadSafetensorsRawFile(path)
	case ".ckpt":
		ts, err := mindspore.ReadFile(path)
		if err != nil {
			return nil, err
		}
		raw := make([]nn.RawTensor, 0, len(ts))
		for _, t := range ts {
			if t.DType == mindspore.DTypeString && isOptimizerState(t.Name) {
				continue
			}
			rt, err := t.Raw()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			raw = append(raw, rt)
		}
		return raw, nil
	default:
		return nil, fmt.Errorf("%s: unsupported checkpoint format %q (want .safetensors or "+
			".ckpt)", path, ext)
	}
}

// SaveCheckpoint writes every parameter of net, atomically, as a .safetensors file or, for a
// path ending in .ckpt, as a MindSpore checkpoint with Float32 tensors under the same names.
func SaveCheckpoint(net *Network, path string) error {
	params := net.Params()
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".safetensors":
		tensors := make([]nn.NamedTensor, len(params))
		for i, p := range params {
			tensors[i] = nn.NamedTensor{Name: p.Name, Tensor: p.Value}
		}
		return nn.WriteSafetensorsFile(path, tensors)
	case ".ckpt":
		tensors := make([]*mindspore.Tensor, len(params))
		for i, p := range params {
			t, err := mindspore.FromRaw(nn.NewRawTensor(p.Name, p.Value))
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			tensors[i] = t
		}
		return mindspore.WriteFile(path, tensors, mindspore.WriteOptions{})
	default:
		return fmt.Errorf("%s: unsupported checkpoint format %q (want .safetensors or .ckpt)",
			path, ext)
	}
}

// holdsModules reports whether a checkpoint has the modules of a NAS-Bench-101 network.
func holdsModules(tensors []nn.RawTensor) bool {
	for _, t := range tensors {
		if strings.HasPrefix(t.Name, "stack0.module0.") {
			return true
		}
	}
	return false
}

// widthOf returns the width of the network stored in a checkpoint, read from the shape of
// conv1.weight.
func widthOf(tensors []nn.RawTensor) (int, bool) {
	for _, t := range tensors {
		if t.Name == "conv1.weight" && len(t.Shape) == 4 {
			return t.Shape[0], true
		}
	}
	return 0, false
}
