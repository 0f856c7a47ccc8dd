package predictor

import (
	"fmt"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/nasnet/nasbench"
)

// FitConfig configures Fit.
type FitConfig struct {
	Model  Config
	Epochs int
	Adam   Adam
	Seed   uint64
	// Standardization selects the statistics of the input standardizer. The zero value is
	// PerChannel.
	Standardization Standardization
	// Progress, when set, receives the loss of each epoch (from 1).
	Progress func(epoch int, loss float64)
}

// DefaultFitConfig trains DefaultConfig for 200 full-batch epochs with DefaultAdam on
// PerChannel standardised encodings.
var DefaultFitConfig = FitConfig{Model: DefaultConfig, Epochs: 200, Adam: DefaultAdam}

// Fit trains a new model on cells with accuracies y (one full batch per epoch) and returns it
// with the loss of the last epoch, computed before its update. hashes are stored in the
// model as its training cells and may be nil. The result depends only on the inputs, the
// seed and the backend, because every step runs the same full batch.
func Fit(b backend.Backend, cells []nasbench.Spec, y []float64, hashes []string,
	cfg FitConfig) (*Model, float64, error) {
	if len(cells) < 2 {
		return nil, 0, fmt.Errorf("predictor: need at least 2 training cells, got %d",
			len(cells))
	}
	if len(y) != len(cells) {
		return nil, 0, fmt.Errorf("predictor: %d accuracies for %d cells", len(y), len(cells))
	}
	if cfg.Epochs < 1 {
		return nil, 0, fmt.Errorf("predictor: epochs must be positive, got %d", cfg.Epochs)
	}
	m, err := NewModel(cfg.Model, cfg.Seed)
	if err != nil {
		return nil, 0, err
	}
	m.TrainHashes = append([]string(nil), hashes...)
	encodings := make([]nasbench.Encoding, len(cells))
	for i, s := range cells {
		if encodings[i], err = nasbench.DefaultNetwork.Encode(s); err != nil {
			return nil, 0, fmt.Errorf("predictor: training cell %d: %w", i, err)
		}
	}
	if m.Standardizer, err = fitStandardizer(encodings, cfg.Standardization); err != nil {
		return nil, 0, err
	}
	x, err := m.Encode(cells)
	if err != nil {
		return nil, 0, err
	}
	tr, err := NewTrainer(b, m, x)
	if err != nil {
		return nil, 0, err
	}
	var loss float64
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		if loss, err = tr.Step(y, cfg.Adam); err != nil {
			return nil, 0, fmt.Errorf("predictor: epoch %d: %w", epoch, err)
		}
		if cfg.Progress != nil {
			cfg.Progress(epoch, loss)
		}
	}
	if err := tr.SyncToHost(); err != nil {
		return nil, 0, err
	}
	return m, loss, nil
}
