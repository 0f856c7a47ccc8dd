package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/internal/cli"
	"github.com/renasgo/renas/nasnet/nasbench"
	"github.com/renasgo/renas/nasnet/plot"
	"github.com/renasgo/renas/nasnet/predictor"
	"github.com/renasgo/renas/nn"
)

// searchLimit, when positive, limits search to the first cells of the space in hash order.
// Only tests set it, to keep a search short.
var searchLimit int

// scoreChunk is the number of cells scored between progress updates.
const scoreChunk = 4096

// Defaults of train's --members and --weight-decay. Trained on 424 NAS-Bench-101 records
// with seeds 1 and 2 and ranking the 19,577 others, five members reached a Kendall tau
// about 0.01 higher than one, and weight decay 1e-3 or 1e-2 a lower tau than none.
const (
	defaultMembers     = 5
	defaultWeightDecay = 0.0
)

func commandFlagSet(name, usageLine, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: renas %s %s\n\n%s\n\nFlags:\n", name, usageLine, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseCommandFlags parses args and rejects positional arguments and missing required
// string flags.
func parseCommandFlags(fs *flag.FlagSet, args []string, required map[string]*string) error {
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), positional[0])
	}
	names := make([]string, 0, len(required))
	for name := range required {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if *required[name] == "" {
			return fmt.Errorf("%s: missing --%s (see --help)", fs.Name(), name)
		}
	}
	return nil
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// lazySpace opens the enumerated space on first use, because record files with specs do not
// need it.
type lazySpace struct {
	cache  string
	stderr io.Writer
	space  *nasbench.Space
}

func (l *lazySpace) get() (*nasbench.Space, error) {
	if l.space != nil {
		return l.space, nil
	}
	sp, built, err := nasbench.OpenSpace(nasbench.CacheOptions{Path: l.cache,
		Logger: newLogger(l.stderr)})
	if err != nil {
		return nil, err
	}
	if built {
		fmt.Fprintln(l.stderr, "enumerated the NAS-Bench-101 space and wrote its cache")
	}
	l.space = sp
	return sp, nil
}

// recordSpecs returns the cell of each record, from the record itself or, for a file of
// hashes only, from the space.
func recordSpecs(path string, records []nasbench.Record, space *lazySpace) ([]nasbench.Spec,
	error) {
	cells := make([]nasbench.Spec, len(records))
	for i, r := range records {
		if r.Spec != nil {
			cells[i] = *r.Spec
			continue
		}
		sp, err := space.get()
		if err != nil {
			return nil, err
		}
		s, ok := sp.Lookup(r.Hash)
		if !ok {
			return nil, fmt.Errorf("%s: record %d: hash %s is not in the NAS-Bench-101 space",
				path, i, r.Hash)
		}
		cells[i] = s
	}
	return cells, nil
}

func loadRecords(path string) ([]nasbench.Record, error) {
	records, err := nasbench.LoadRecords(path)
	if err != nil {
		return nil, err
	}
	if len(records) == 0 {
		return nil, fmt.Errorf("%s: the file has no records", path)
	}
	return records, nil
}

func newCPU(threads int) (*cpu.Backend, error) {
	if threads < 0 {
		return nil, fmt.Errorf("invalid --threads %d: must be 0 (all cores) or positive",
			threads)
	}
	return cpu.New(threads)
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := commandFlagSet("train", "--data FILE.json --out MODEL [flags]",
		"Trains an ensemble of --members ReNAS accuracy predictors with the pairwise\n"+
			"ranking loss on --train-size records of FILE.json drawn with --seed, each from\n"+
			"other initial weights, and writes it to MODEL as safetensors (weights, batch-norm\n"+
			"statistics, the encoding standardizer, the training hashes and each member's\n"+
			"score statistics). The ensemble scores a cell by the mean of the members'\n"+
			"scores, each standardised by its mean and deviation on the training records.\n"+
			"With --orderings K above 1, each member trains on up to K vertex orderings of\n"+
			"every cell, and K is stored in MODEL for rank and search.\n"+
			"Prints the mean loss of the last epoch and the training time.", stderr)
	data := fs.String("data", "", "NAS-Bench-101 record file (required)")
	out := fs.String("out", "", "model file to write (required)")
	size := fs.Int("train-size", 424, "number of training records")
	seed := fs.Uint64("seed", 0, "seed of the record sample and the initial weights")
	members := fs.Int("members", defaultMembers, "number of predictors in the ensemble, "+
		"trained one after another")
	weightDecay := fs.Float64("weight-decay", defaultWeightDecay, "L2 weight decay of Adam, "+
		"added to every parameter's gradient")
	standardize := fs.String("standardize", predictor.DefaultFitConfig.Standardization.String(),
		"statistics that standardise the encodings: channel (one mean and deviation per "+
			"channel) or entry (per channel, row and column)")
	convInit := fs.String("conv-init", predictor.DefaultConfig.ConvInit.String(),
		"initial convolution weights: uniform (PyTorch's default, ±1/sqrt(fan_in)) or he "+
			"(normal, std sqrt(2/fan_in))")
	epochs := fs.Int("epochs", predictor.DefaultFitConfig.Epochs,
		"full-batch epochs of each member (one Adam step each)")
	orderings := fs.Int("orderings", 1, "maximum number of vertex orderings of each training "+
		"cell, each trained as an example with the cell's accuracy; rank and search score a "+
		"cell by the mean over as many of its orderings (1: the cell as given)")
	threads := fs.Int("threads", 0, "CPU threads; 0 means all cores")
	cache := fs.String("cache", "", "space cache file, for record files of hashes only "+
		"(default: as for enumerate)")
	if err := parseCommandFlags(fs, args,
		map[string]*string{"data": data, "out": out}); err != nil {
		return err
	}

	err := checkPaths([]cli.FlagPath{{Flag: "--out", Path: *out}}, *cache,
		[]cli.FlagPath{{Flag: "--data", Path: *data}})
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if *epochs < 1 {
		return fmt.Errorf("train: invalid --epochs %d: must be positive", *epochs)
	}
	if *members < 1 || *members > maxMembers {
		return fmt.Errorf("train: invalid --members %d: must be from 1 to %d", *members,
			maxMembers)
	}
	if *orderings < 1 {
		return fmt.Errorf("train: invalid --orderings %d: must be positive", *orderings)
	}
	if !(*weightDecay >= 0) || math.IsInf(*weightDecay, 0) {
		return fmt.Errorf("train: invalid --weight-decay %v: must be zero or positive",
			*weightDecay)
	}
	standardization, err := predictor.ParseStandardization(*standardize)
	if err != nil {
		return fmt.Errorf("train: invalid --standardize: %w", err)
	}
	convInitKind, err := predictor.ParseConvInit(*convInit)
	if err != nil {
		return fmt.Errorf("train: invalid --conv-init: %w", err)
	}
	records, err := loadRecords(*data)
	if err != nil {
		return err
	}
	if *size < 2 || *size > len(records) {
		return fmt.Errorf("train: invalid --train-size %d: must be from 2 to the %d records "+
			"of %s", *size, len(records), *data)
	}
	be, err := newCPU(*threads)
	if err != nil {
		return err
	}
	sample := drawRecords(records, *size, *seed)
	cells, err := recordSpecs(*data, sample, &lazySpace{cache: *cache, stderr: stderr})
	if err != nil {
		return err
	}
	y := make([]float64, len(sample))
	hashes := make([]string, len(sample))
	for i, r := range sample {
		y[i], hashes[i] = r.ValidationAccuracy[3], r.Hash
	}

	cfg := predictor.DefaultFitConfig
	cfg.Epochs, cfg.Seed = *epochs, *seed
	cfg.Adam.WeightDecay = float32(*weightDecay)
	cfg.Standardization = standardization
	cfg.Model.ConvInit = convInitKind
	cfg.Orderings = *orderings
	if cli.IsTerminal(stderr) {
		bar := progressbar.NewOptions(*members**epochs, progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("train"), progressbar.OptionShowCount(),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
		defer bar.Finish()
		cfg.Progress = func(epoch int, _ float64) { bar.Set(epoch) }
	}
	start := time.Now()
	e, loss, err := predictor.FitEnsemble(be, cells, y, hashes, cfg, *members)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	if err := e.Save(*out); err != nil {
		return err
	}
	trainedOn := fmt.Sprintf("%d cells", len(cells))
	if *orderings > 1 {
		examples, _ := predictor.ExpandOrderings(cells, *orderings)
		trainedOn += fmt.Sprintf(" (%d examples, up to %d vertex orderings a cell)",
			len(examples), *orderings)
	}
	fmt.Fprintf(stdout, "trained %d members on %s for %d epochs each in %.1f s (%s)\n",
		*members, trainedOn, *epochs, elapsed.Seconds(), be.Describe())
	fmt.Fprintf(stdout, "final train loss %.6f\n", loss)
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}

// drawRecords returns n records drawn without replacement, in an order fixed by seed.
func drawRecords(records []nasbench.Record, n int, seed uint64) []nasbench.Record {
	rng := rand.New(rand.NewPCG(seed, 0x747261696e))
	sample := make([]nasbench.Record, n)
	for i, k := range rng.Perm(len(records))[:n] {
		sample[i] = records[k]
	}
	return sample
}

// scoreCells scores cells in chunks, reporting progress on a terminal.
func scoreCells(sc *predictor.EnsembleScorer, cells []nasbench.Spec, stderr io.Writer,
	label string) ([]float32, error) {
	var bar *progressbar.ProgressBar
	if cli.IsTerminal(stderr) {
		bar = progressbar.NewOptions(len(cells), progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription(label), progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("cells"), progressbar.OptionShowIts(),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
		defer bar.Finish()
	}
	scores := make([]float32, 0, len(cells))
	for start := 0; start < len(cells); start += scoreChunk {
		part, err := sc.Score(cells[start:min(start+scoreChunk, len(cells))])
		if err != nil {
			return nil, err
		}
		scores = append(scores, part...)
		if bar != nil {
			bar.Set(len(scores))
		}
	}
	return scores, nil
}

// maxMembers is the largest --members of train: each member is trained in turn, and 100
// already take a hundred times as long as one.
const maxMembers = 100

// maxBatch is the largest --batch of rank and search.
const maxBatch = 1 << 16

// checkPaths checks that each output can be written, and that neither the outputs nor the
// space cache, which is rewritten when it is invalid, name the same file as another output
// or an input. Empty paths are skipped.
func checkPaths(outputs []cli.FlagPath, cache string, inputs []cli.FlagPath) error {
	for _, o := range outputs {
		if o.Path == "" {
			continue
		}
		if err := nn.CheckOutputPath(o.Path); err != nil {
			return fmt.Errorf("%s: %w", o.Flag, err)
		}
	}
	withCache := append(outputs[:len(outputs):len(outputs)], cli.FlagPath{Flag: "--cache",
		Path: cache})
	return cli.CheckDistinctOutputs(withCache, inputs)
}

func loadScorer(path string, threads, batch int) (*predictor.Ensemble,
	*predictor.EnsembleScorer, error) {
	if batch < 1 || batch > maxBatch {
		return nil, nil, fmt.Errorf("invalid --batch %d: must be from 1 to %d", batch,
			maxBatch)
	}
	e, err := predictor.LoadEnsemble(path)
	if err != nil {
		return nil, nil, err
	}
	be, err := newCPU(threads)
	if err != nil {
		return nil, nil, err
	}
	sc, err := predictor.NewEnsembleScorer(be, e, batch)
	if err != nil {
		return nil, nil, err
	}
	return e, sc, nil
}

// heldOut returns the records whose hashes are not among the model's training hashes.
func heldOut(records []nasbench.Record, e *predictor.Ensemble) []nasbench.Record {
	train := make(map[string]bool, len(e.TrainHashes()))
	for _, h := range e.TrainHashes() {
		train[h] = true
	}
	var out []nasbench.Record
	for _, r := range records {
		if !train[r.Hash] {
			out = append(out, r)
		}
	}
	return out
}

func runRank(args []string, stdout, stderr io.Writer) error {
	fs := commandFlagSet("rank", "--model MODEL --data FILE.json [flags]",
		"Scores the records of FILE.json with the predictor and prints Kendall's tau-b\n"+
			"between the scores and the 108-epoch validation accuracies, and the number of\n"+
			"records ranked. The model's training records are left out unless\n"+
			"--include-train is set. A model trained with --orderings K scores each cell by\n"+
			"the mean over up to K of its vertex orderings.", stderr)
	modelPath := fs.String("model", "", "model file written by train (required)")
	data := fs.String("data", "", "NAS-Bench-101 record file (required)")
	includeTrain := fs.Bool("include-train", false, "also rank the model's training records")
	asJSON := fs.Bool("json", false, "print one JSON object with the keys kendall_tau, n "+
		"and excluded")
	threads := fs.Int("threads", 0, "CPU threads; 0 means all cores")
	batch := fs.Int("batch", 256, "cells per inference batch")
	cache := fs.String("cache", "", "space cache file, for record files of hashes only "+
		"(default: as for enumerate)")
	plotPath := fs.String("plot", "", "draw the predicted score against the accuracy into "+
		"this PNG file")
	if err := parseCommandFlags(fs, args,
		map[string]*string{"model": modelPath, "data": data}); err != nil {
		return err
	}
	if *plotPath != "" && !strings.HasSuffix(*plotPath, ".png") {
		return fmt.Errorf("rank: --plot %s must end in .png", *plotPath)
	}
	err := checkPaths([]cli.FlagPath{{Flag: "--plot", Path: *plotPath}}, *cache,
		[]cli.FlagPath{{Flag: "--model", Path: *modelPath}, {Flag: "--data", Path: *data}})
	if err != nil {
		return fmt.Errorf("rank: %w", err)
	}

	m, sc, err := loadScorer(*modelPath, *threads, *batch)
	if err != nil {
		return err
	}
	records, err := loadRecords(*data)
	if err != nil {
		return err
	}
	ranked := records
	if !*includeTrain {
		ranked = heldOut(records, m)
	}
	if len(ranked) < 2 {
		return fmt.Errorf("rank: %s has %d records outside the training set, need at least 2",
			*data, len(ranked))
	}
	cells, err := recordSpecs(*data, ranked, &lazySpace{cache: *cache, stderr: stderr})
	if err != nil {
		return err
	}

	scores, err := scoreCells(sc, cells, stderr, "rank")
	if err != nil {
		return err
	}
	x := make([]float64, len(scores))
	y := make([]float64, len(scores))
	for i := range scores {
		x[i], y[i] = float64(scores[i]), ranked[i].ValidationAccuracy[3]
	}
	tau, err := nasbench.KendallTau(x, y)
	if err != nil {
		return fmt.Errorf("rank: %w", err)
	}
	if *plotPath != "" {
		err := plot.WriteScatterFile(*plotPath, plot.Scatter{
			Title:  fmt.Sprintf("%d cells, Kendall tau %.3f", len(x), tau),
			XLabel: "predicted score", YLabel: "108-epoch validation accuracy", X: x, Y: y})
		if err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
	}
	excluded := len(records) - len(ranked)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			KendallTau float64 `json:"kendall_tau"`
			N          int     `json:"n"`
			Excluded   int     `json:"excluded"`
		}{tau, len(ranked), excluded})
	}
	fmt.Fprintf(stdout, "kendall_tau %.4f\nn %d\nexcluded %d training records\n", tau,
		len(ranked), excluded)
	return nil
}

type candidate struct {
	spec  nasbench.Spec
	hash  string
	score float32
}

func runSearch(args []string, stdout, stderr io.Writer) error {
	fs := commandFlagSet("search", "--model MODEL [flags]",
		"Scores every cell of the NAS-Bench-101 space with the predictor and prints the\n"+
			"--top cells with the highest scores, with their validation accuracy where\n"+
			"--data has it. --out receives the best cell as a spec file. A model trained\n"+
			"with --orderings K scores each cell by the mean over up to K of its vertex\n"+
			"orderings, so it runs the network on up to K times as many encodings.", stderr)
	modelPath := fs.String("model", "", "model file written by train (required)")
	top := fs.Int("top", 10, "number of cells to print")
	data := fs.String("data", "", "NAS-Bench-101 record file with known accuracies")
	withinData := fs.Bool("within-data", false, "score only the records of --data that are "+
		"not training records, instead of the whole space")
	out := fs.String("out", "", "spec file to write the best cell to")
	threads := fs.Int("threads", 0, "CPU threads; 0 means all cores")
	batch := fs.Int("batch", 512, "cells per inference batch")
	cache := fs.String("cache", "", "space cache file (default: as for enumerate)")
	if err := parseCommandFlags(fs, args, map[string]*string{"model": modelPath}); err != nil {
		return err
	}

	if *top < 1 {
		return fmt.Errorf("search: invalid --top %d: must be positive", *top)
	}
	if *withinData && *data == "" {
		return errors.New("search: --within-data needs --data")
	}
	err := checkPaths([]cli.FlagPath{{Flag: "--out", Path: *out}}, *cache,
		[]cli.FlagPath{{Flag: "--model", Path: *modelPath}, {Flag: "--data", Path: *data}})
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	m, sc, err := loadScorer(*modelPath, *threads, *batch)
	if err != nil {
		return err
	}
	space := &lazySpace{cache: *cache, stderr: stderr}
	known := map[string]float64{}
	var pool []nasbench.Record // held-out records, the reference for percentiles
	if *data != "" {
		records, err := loadRecords(*data)
		if err != nil {
			return err
		}
		pool = heldOut(records, m)
		for _, r := range records {
			known[r.Hash] = r.ValidationAccuracy[3]
		}
	}
	candidates, err := searchCandidates(space, *data, pool, *withinData)
	if err != nil {
		return err
	}
	cells := make([]nasbench.Spec, len(candidates))
	for i, c := range candidates {
		cells[i] = c.spec
	}

	start := time.Now()
	scores, err := scoreCells(sc, cells, stderr, "search")
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	for i := range candidates {
		candidates[i].score = scores[i]
	}
	// Sort by score, then hash, so that ties print in a fixed order.
	sort.Slice(candidates, func(i, j int) bool {
		if candidates[i].score != candidates[j].score {
			return candidates[i].score > candidates[j].score
		}
		return candidates[i].hash < candidates[j].hash
	})
	fmt.Fprintf(stdout, "scored %d cells in %.1f s\n", len(candidates), elapsed.Seconds())
	return printTop(stdout, candidates[:min(*top, len(candidates))], known, pool, *out)
}

// searchCandidates returns the cells to score: the held-out records of the data file with
// withinData, else the whole space (or its first searchLimit cells).
func searchCandidates(space *lazySpace, data string, pool []nasbench.Record,
	withinData bool) ([]candidate, error) {
	if withinData {
		cells, err := recordSpecs(data, pool, space)
		if err != nil {
			return nil, err
		}
		out := make([]candidate, len(pool))
		for i, r := range pool {
			out[i] = candidate{spec: cells[i], hash: r.Hash}
		}
		return out, nil
	}
	sp, err := space.get()
	if err != nil {
		return nil, err
	}
	n := sp.Len()
	if searchLimit > 0 {
		n = min(n, searchLimit)
	}
	out := make([]candidate, n)
	for i := range n {
		out[i] = candidate{spec: sp.Cell(i), hash: sp.Hash(i)}
	}
	return out, nil
}

// printTop prints the best cells and, when some have a known accuracy, how the best of those
// compares with the held-out records. It writes the best cell to outPath unless it is empty.
func printTop(stdout io.Writer, best []candidate, known map[string]float64,
	pool []nasbench.Record, outPath string) error {
	fmt.Fprintf(stdout, "%4s  %10s  %8s  %-32s  %s\n", "rank", "score", "accuracy", "hash",
		"spec")
	bestKnown, bestRank := -1.0, 0
	for i, c := range best {
		acc := "-"
		if a, ok := known[c.hash]; ok {
			acc = fmt.Sprintf("%.4f", a)
			if a > bestKnown {
				bestKnown, bestRank = a, i+1
			}
		}
		text, err := json.Marshal(c.spec)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%4d  %10.4f  %8s  %-32s  %s\n", i+1, c.score, acc, c.hash, text)
	}
	switch {
	case len(known) == 0:
	case bestKnown < 0:
		fmt.Fprintf(stdout, "none of the top %d cells is in the data file\n", len(best))
	case len(pool) > 0:
		better := 0
		for _, r := range pool {
			if r.ValidationAccuracy[3] > bestKnown {
				better++
			}
		}
		fmt.Fprintf(stdout, "best known accuracy in the top %d: %.4f (rank %d), exceeded by "+
			"%d of %d held-out records (top %.2f%%)\n", len(best), bestKnown, bestRank, better,
			len(pool), 100*float64(better+1)/float64(len(pool)))
	}
	if outPath == "" {
		return nil
	}
	text, err := json.Marshal(best[0].spec)
	if err != nil {
		return err
	}
	err = nn.WriteFileAtomic(outPath, func(w io.Writer) error {
		_, err := w.Write(append(text, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	fmt.Fprintf(stdout, "wrote the best cell to %s\n", outPath)
	return nil
}
