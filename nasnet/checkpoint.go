package nasnet

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/renasgo/renas/nn"
	"github.com/renasgo/renas/tensor"
)

// isOptimizerState reports whether a checkpoint entry is training state that MindSpore saves
// beside the weights (momentum buffers, the learning rate, the step counter).
func isOptimizerState(name string) bool {
	return strings.HasPrefix(name, "moments.") || strings.HasPrefix(name, "accum.") ||
		name == "learning_rate" || name == "global_step" || name == "momentum"
}

// LoadCheckpoint builds a network from the weights of a .safetensors file. A width of 0
// takes the width from the checkpoint's conv1.weight. Every parameter of the network must be
// present with its shape; optimizer state is ignored and any other extra tensor is an error.
// Errors name the file.
func LoadCheckpoint(path string, width int) (*Network, error) {
	if ext := strings.ToLower(filepath.Ext(path)); ext != ".safetensors" {
		return nil, fmt.Errorf("%s: unsupported checkpoint format %q (want .safetensors)",
			path, ext)
	}
	tensors, err := nn.ReadSafetensorsFile(path)
	if err != nil {
		return nil, err
	}
	if width == 0 {
		var ok bool
		if width, ok = widthOf(tensors); !ok {
			return nil, fmt.Errorf("%s: no 4-D conv1.weight to take the width from", path)
		}
	}
	net, err := New(width, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := nn.LoadStrict(net.Params(), tensors, isOptimizerState); err != nil {
		return nil, fmt.Errorf("%s: %w (network width %d)", path, err, width)
	}
	return net, nil
}

// SaveCheckpoint writes every parameter of net to a .safetensors file, atomically.
func SaveCheckpoint(net *Network, path string) error {
	params := net.Params()
	tensors := make([]nn.NamedTensor, len(params))
	for i, p := range params {
		tensors[i] = nn.NamedTensor{Name: p.Name, Tensor: p.Value}
	}
	return nn.WriteSafetensorsFile(path, tensors)
}

// widthOf returns the width of the network stored in a checkpoint, read from the shape of
// conv1.weight.
func widthOf(tensors map[string]*tensor.Tensor) (int, bool) {
	w, ok := tensors["conv1.weight"]
	if !ok || w.Rank() != 4 {
		return 0, false
	}
	return w.Dim(0), true
}
