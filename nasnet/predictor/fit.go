package predictor

import (
	"fmt"
	"math"

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
	// Orderings, when above 1, is the maximum number of vertex orderings of each cell
	// (ExpandOrderings) that Fit trains on, each a separate example with the cell's
	// accuracy. The standardizer is fitted to all of them. The model stores the value, and
	// its Scorer scores a cell by the mean over as many of its orderings. The copies of a
	// cell share one target, so RankingLoss forms no pair of two copies. A cell with more
	// orderings takes part in more pairs, so it weighs more in the loss. 0 and 1 train on
	// the cells as given.
	Orderings int
	// Progress, when set, receives the loss of each epoch (from 1).
	Progress func(epoch int, loss float64)
}

// DefaultFitConfig trains DefaultConfig for 200 full-batch epochs with DefaultAdam on
// PerChannel standardised encodings.
var DefaultFitConfig = FitConfig{Model: DefaultConfig, Epochs: 200, Adam: DefaultAdam}

// Fit trains a new model on cells with accuracies y (one full batch per epoch) and returns it
// with the loss of the last epoch, computed before its update. With cfg.Orderings above 1 the
// batch holds up to that many vertex orderings of each cell. hashes are stored in the model
// as its training cells and may be nil. The result depends only on the inputs, the
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
	if cfg.Orderings < 0 {
		return nil, 0, fmt.Errorf("predictor: orderings must be 0 or positive, got %d",
			cfg.Orderings)
	}
	for i, v := range y {
		// A NaN target would pair the copies of its cell, because NaN ≠ NaN.
		if math.IsNaN(v) {
			return nil, 0, fmt.Errorf("predictor: accuracy of training cell %d is NaN", i)
		}
	}
	m, err := NewModel(cfg.Model, cfg.Seed)
	if err != nil {
		return nil, 0, err
	}
	m.TrainHashes = append([]string(nil), hashes...)
	m.Orderings = max(1, cfg.Orderings)
	examples, owner := ExpandOrderings(cells, m.Orderings)
	targets := make([]float64, len(examples))
	encodings := make([]nasbench.Encoding, len(examples))
	for i, s := range examples {
		targets[i] = y[owner[i]]
		if encodings[i], err = nasbench.DefaultNetwork.Encode(s); err != nil {
			return nil, 0, fmt.Errorf("predictor: training cell %d: %w", owner[i], err)
		}
	}
	if m.Standardizer, err = fitStandardizer(encodings, cfg.Standardization); err != nil {
		return nil, 0, err
	}
	x, err := m.Encode(examples)
	if err != nil {
		return nil, 0, err
	}
	tr, err := NewTrainer(b, m, x)
	if err != nil {
		return nil, 0, err
	}
	var loss float64
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		if loss, err = tr.Step(targets, cfg.Adam); err != nil {
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
