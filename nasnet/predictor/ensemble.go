package predictor

import (
	"fmt"
	"math"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/nasnet/nasbench"
)

// Ensemble is a set of models trained on the same cells from different initial weights. It
// scores a cell by the mean of its members' standardised scores, so that no member weighs
// more because its scores happen to spread wider.
type Ensemble struct {
	// Members share one Standardizer, one list of TrainHashes and one number of Orderings.
	Members []*Model
	// ScoreMean[k] and ScoreStd[k] are the mean and population standard deviation of member
	// k's inference scores on the training cells. Member k's standardised score of a cell
	// is (score − ScoreMean[k]) / ScoreStd[k].
	ScoreMean, ScoreStd []float32
}

// TrainHashes returns the hashes of the training cells that every member shares.
func (e *Ensemble) TrainHashes() []string { return e.Members[0].TrainHashes }

func (e *Ensemble) check() error {
	k := len(e.Members)
	switch {
	case k == 0:
		return fmt.Errorf("predictor: an ensemble needs at least one member")
	case len(e.ScoreMean) != k || len(e.ScoreStd) != k:
		return fmt.Errorf("predictor: ensemble of %d members has %d score means and %d "+
			"score deviations", k, len(e.ScoreMean), len(e.ScoreStd))
	}
	for i, m := range e.Members {
		if m.Standardizer == nil {
			return fmt.Errorf("predictor: ensemble member %d has no standardizer", i+1)
		}
		if *m.Standardizer != *e.Members[0].Standardizer {
			return fmt.Errorf("predictor: ensemble member %d has another standardizer than "+
				"member 1", i+1)
		}
		if m.orderings() != e.Members[0].orderings() {
			return fmt.Errorf("predictor: ensemble member %d scores %d vertex orderings per "+
				"cell, member 1 scores %d", i+1, m.orderings(), e.Members[0].orderings())
		}
		if !(e.ScoreStd[i] > 0) || math.IsInf(float64(e.ScoreStd[i]), 0) {
			return fmt.Errorf("predictor: ensemble member %d has score deviation %v, want a "+
				"positive finite value", i+1, e.ScoreStd[i])
		}
	}
	return nil
}

// MemberSeed returns the seed of the initial weights of ensemble member k (from 0). Member
// 0 uses seed itself, so that an ensemble of one is the model that Fit trains with seed.
func MemberSeed(seed uint64, k int) uint64 {
	return seed ^ uint64(k)*0x9e3779b97f4a7c15
}

// FitEnsemble trains an ensemble of the given number of members one after another, each as
// Fit does on cells with accuracies y, member k with the seed MemberSeed(cfg.Seed, k). It
// returns the ensemble and the mean of the members' last-epoch losses. cfg.Progress, when
// set, receives the epochs of all members as one count, from 1 to members·cfg.Epochs.
func FitEnsemble(b backend.Backend, cells []nasbench.Spec, y []float64, hashes []string,
	cfg FitConfig, members int) (*Ensemble, float64, error) {
	if members < 1 {
		return nil, 0, fmt.Errorf("predictor: an ensemble needs at least one member, got %d",
			members)
	}
	e := &Ensemble{}
	var lossSum float64
	for k := range members {
		memberCfg := cfg
		memberCfg.Seed = MemberSeed(cfg.Seed, k)
		if cfg.Progress != nil {
			done := k * cfg.Epochs
			memberCfg.Progress = func(epoch int, loss float64) { cfg.Progress(done+epoch, loss) }
		}
		m, loss, err := Fit(b, cells, y, hashes, memberCfg)
		if err != nil {
			return nil, 0, fmt.Errorf("predictor: ensemble member %d: %w", k+1, err)
		}
		if k > 0 {
			// Fit computed the same statistics from the same cells, so share one copy.
			m.Standardizer = e.Members[0].Standardizer
		}
		mean, std, err := trainingScoreStats(b, m, cells)
		if err != nil {
			return nil, 0, fmt.Errorf("predictor: ensemble member %d: %w", k+1, err)
		}
		e.Members = append(e.Members, m)
		e.ScoreMean = append(e.ScoreMean, mean)
		e.ScoreStd = append(e.ScoreStd, std)
		lossSum += loss
	}
	return e, lossSum / float64(members), nil
}

// trainingScoreStats returns the mean and population standard deviation of the model's
// inference scores of cells. A deviation of 0, from a model that scores every cell alike, is
// returned as 1.
func trainingScoreStats(b backend.Backend, m *Model, cells []nasbench.Spec) (mean,
	std float32, err error) {
	sc, err := NewScorer(b, m, len(cells))
	if err != nil {
		return 0, 0, err
	}
	scores, err := sc.Score(cells)
	if err != nil {
		return 0, 0, err
	}
	var sum float64
	for _, s := range scores {
		sum += float64(s)
	}
	mu := sum / float64(len(scores))
	var squares float64
	for _, s := range scores {
		d := float64(s) - mu
		squares += d * d
	}
	sigma := math.Sqrt(squares / float64(len(scores)))
	if sigma == 0 {
		sigma = 1
	}
	return float32(mu), float32(sigma), nil
}

// EnsembleScorer runs every member of an ensemble in inference mode on batches of a fixed
// size, encoding each batch once for all members. It is not safe for concurrent use.
type EnsembleScorer struct {
	ensemble *Ensemble
	members  []*Scorer
	batch    int
}

// NewEnsembleScorer plans every member's layers on b for batches of up to batch cells.
func NewEnsembleScorer(b backend.Backend, e *Ensemble, batch int) (*EnsembleScorer, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	es := &EnsembleScorer{ensemble: e, batch: batch}
	for k, m := range e.Members {
		sc, err := NewScorer(b, m, batch)
		if err != nil {
			return nil, fmt.Errorf("predictor: ensemble member %d: %w", k+1, err)
		}
		es.members = append(es.members, sc)
	}
	return es, nil
}

// Score returns the ensemble score of each cell, the mean over the members of their
// standardised scores. With the members' Orderings above 1, each member's score of a cell is
// the mean over up to that many of its vertex orderings, as Scorer.Score computes it. A
// higher score predicts a higher accuracy.
func (es *EnsembleScorer) Score(cells []nasbench.Spec) ([]float32, error) {
	e := es.ensemble
	examples, owner := ExpandOrderings(cells, e.Members[0].orderings())
	// sum[i] adds up the standardised score of every member and ordering of cell i.
	sum := make([]float64, len(cells))
	count := make([]int, len(cells))
	for start := 0; start < len(examples); start += es.batch {
		end := min(start+es.batch, len(examples))
		x, err := e.Members[0].Encode(examples[start:end])
		if err != nil {
			return nil, err
		}
		for k, sc := range es.members {
			member, err := sc.scoreEncoded(x)
			if err != nil {
				return nil, fmt.Errorf("predictor: ensemble member %d: %w", k+1, err)
			}
			for i, s := range member {
				sum[owner[start+i]] += (float64(s) - float64(e.ScoreMean[k])) /
					float64(e.ScoreStd[k])
			}
		}
		for i := start; i < end; i++ {
			count[owner[i]]++
		}
	}
	scores := make([]float32, len(cells))
	for i := range cells {
		scores[i] = float32(sum[i] / float64(len(es.members)*count[i]))
	}
	return scores, nil
}
