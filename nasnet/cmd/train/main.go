// Command train trains the ReNAS network, or the NAS-Bench-101 network around a given cell, on
// CIFAR-10 from random or given weights, or resumes a run from its checkpoint.
//
// Usage:
//
//	go run ./nasnet/cmd/train [flags]
//
// Run with --help for the flags.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/renasgo/renas/backend"
	_ "github.com/renasgo/renas/backend/cpu" // registers the CPU platform
	"github.com/renasgo/renas/internal/cli"
	"github.com/renasgo/renas/nasnet"
	"github.com/renasgo/renas/nasnet/cifar10"
	"github.com/renasgo/renas/nasnet/nasbench"
	"github.com/renasgo/renas/nasnet/plot"
	"github.com/renasgo/renas/nn"
)

// Adam's constants, which no flag sets: the defaults of Kingma and Ba (2015) and of
// torch.optim.Adam.
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

// exitInterrupted is the exit status after SIGINT or SIGTERM, 128 + SIGINT as shells use.
const exitInterrupted = 130

// errInterrupted is wrapped by the error of run when a signal stopped training.
var errInterrupted = errors.New("interrupted")

type config struct {
	loop       nasnet.LoopConfig
	optimizer  string
	precision  string
	data       string
	platform   string
	out        string
	resume     string
	checkpoint string
	export     string
	logPath    string
	plotPath   string
	cellPath   string
	threads    int
	limitTrain int
	evalLimit  int
	quiet      bool
	// saveEvery is the time between checkpoints written inside an epoch.
	saveEvery time.Duration
	// setFlags maps the names of the flags set on the command line to their values as text.
	setFlags map[string]string
}

// float32Text returns the value v of the float flag name for a message: the text set on the
// command line, followed by v where float32 rounding changed it.
func (c *config) float32Text(name string, v float32) string {
	s, ok := c.setFlags[name]
	if !ok || s == fmt.Sprint(v) {
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("%s, which float32 rounds to %v", s, v)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one ends the process at once. The checkpoint
		// is safe either way, because it is replaced only by a complete file.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errInterrupted):
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(exitInterrupted)
	default:
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(2)
	}
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{setFlags: map[string]string{}}
	lc := &cfg.loop
	lc.Train = nasnet.TrainConfig{Beta1: adamBeta1, Beta2: adamBeta2, Eps: adamEps}
	var momentum, weightDecay, smoothing, gradClip float64

	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&lc.Width, "width", 64,
		"network width in channels, even (64 is the built-in model's)")
	fs.StringVar(&cfg.cellPath, "cell", "",
		"train the NAS-Bench-101 network around the cell in this JSON spec file "+
			"({\"matrix\": ..., \"ops\": ...}) in place of the ReNAS network")
	fs.IntVar(&lc.Epochs, "epochs", 108,
		"passes over the training set (108 is NAS-Bench-101's longest budget)")
	fs.IntVar(&lc.Train.BatchSize, "batch-size", 128,
		"images per training step; the last partial batch of each epoch is dropped")
	fs.Float64Var(&lc.LR, "lr", 0.1, "peak learning rate of the cosine schedule")
	fs.IntVar(&lc.WarmupEpochs, "warmup-epochs", 0,
		"epochs of linear learning-rate warm-up before the cosine decay")
	fs.StringVar(&cfg.optimizer, "optimizer", "sgd",
		"sgd (with --momentum and --nesterov) or adam (β1 0.9, β2 0.999, ε 1e-8)")
	fs.Float64Var(&momentum, "momentum", 0.9, "SGD momentum")
	fs.BoolVar(&lc.Train.Nesterov, "nesterov", false, "use Nesterov momentum with SGD")
	fs.Float64Var(&weightDecay, "weight-decay", 5e-4,
		"L2 penalty on convolution and dense weights")
	fs.Float64Var(&smoothing, "label-smoothing", 0.1,
		"weight of the uniform distribution mixed into the one-hot targets, in [0, 1)")
	fs.IntVar(&lc.Cutout, "cutout", 0,
		"side in pixels, 0 to 32, of a square of each training image, centred on a random "+
			"pixel and clipped at the border, that is set to the data set's per-channel mean "+
			"(0 after normalization) after the crop and flip; 0: off")
	fs.Float64Var(&gradClip, "grad-clip", 0,
		"largest global L2 norm of the gradients; a step above it scales them down "+
			"(0: no clipping)")
	fs.StringVar(&cfg.precision, "precision", "fp32",
		"fp32; bf16 (convolutions on bfloat16 inputs with fp32 sums, where the CPU has "+
			"AVX512_BF16); or fp16 (weights and weight gradients rounded to binary16, dynamic "+
			"loss scaling). Master weights stay fp32")

	fs.Uint64Var(&lc.Seed, "seed", 1,
		"seed of the initial weights and of the data order and augmentation")
	fs.IntVar(&cfg.threads, "threads", 0, "CPU worker threads (0: one per core)")
	fs.StringVar(&cfg.platform, "platform", "CPU", "backend to train on: CPU, GPU or Ascend")
	fs.StringVar(&cfg.data, "data", "data",
		"CIFAR-10 binary data: a folder with cifar-10-batches-bin/ or the .tar.gz archive")

	fs.StringVar(&cfg.out, "out", "",
		"training checkpoint (.safetensors), rewritten after every epoch; the weights alone "+
			"go to the same name ending in .weights.safetensors, and a lock beside it ending in "+
			".lock keeps a second run from writing it (default: --resume, else "+
			"renas/train/width<W>-seed<S>.safetensors in the user cache folder)")
	fs.StringVar(&cfg.resume, "resume", "",
		"continue the run stored in this training checkpoint; flags that change training "+
			"default to its values and must not contradict them")
	fs.StringVar(&cfg.checkpoint, "checkpoint", "",
		"start from these weights (.safetensors or MindSpore .ckpt) in place of a random "+
			"initialization, at their width unless --width is given; not with --resume")
	fs.DurationVar(&cfg.saveEvery, "checkpoint-interval", 5*time.Minute,
		"also rewrite --out inside an epoch this often, so that a killed run loses at most "+
			"this much (0: after whole epochs only)")
	fs.StringVar(&cfg.export, "export", "",
		"also write the weights here after every epoch, as MindSpore .ckpt or .safetensors "+
			"by the extension")
	fs.StringVar(&cfg.logPath, "log", "", "append one JSON line of metrics per epoch to "+
		"this file (truncated first for a new run; with --resume it keeps one line per "+
		"epoch that the checkpoint completed, written from the checkpoint where missing)")
	fs.StringVar(&cfg.plotPath, "plot", "",
		"draw the loss and accuracy curves into this PNG file after every epoch")
	fs.IntVar(&cfg.limitTrain, "limit-train", 0,
		"train on the first N training images only (0: all 50,000), for smoke runs")
	fs.IntVar(&cfg.evalLimit, "eval-limit", 0,
		"evaluate on the first N test images only (0: all 10,000)")
	fs.BoolVar(&cfg.quiet, "quiet", false,
		"show no progress bar (none is shown when stderr is not a terminal)")

	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: train [flags]\n\n"+
			"Trains the ReNAS NAS-Bench-101 network on CIFAR-10 with random crops and flips,\n"+
			"a cosine learning-rate schedule and label smoothing. After every epoch it\n"+
			"evaluates the test set and writes a checkpoint, which --resume continues;\n"+
			"it also writes one every --checkpoint-interval inside an epoch. SIGINT or\n"+
			"SIGTERM stops training; the checkpoint then holds the last step saved.\n\n"+
			"Flags:\n")
		fs.PrintDefaults()
	}

	if err := cli.ParseFlagsNoArgs(fs, args); err != nil {
		return nil, err
	}

	fs.Visit(func(f *flag.Flag) { cfg.setFlags[f.Name] = f.Value.String() })
	if cfg.cellPath != "" {
		cell, err := nasbench.ReadSpecFile(cfg.cellPath)
		if err != nil {
			return nil, fmt.Errorf("--cell: %w", err)
		}
		lc.Cell = &cell
	}
	lc.Train.Momentum = float32(momentum)
	lc.Train.WeightDecay = float32(weightDecay)
	lc.Train.LabelSmoothing = float32(smoothing)
	lc.Train.GradClipNorm = float32(gradClip)
	precision, err := nasnet.ParsePrecision(cfg.precision)
	if err != nil {
		return nil, fmt.Errorf("--%w", err)
	}
	lc.Train.Precision = precision
	switch cfg.optimizer {
	case "sgd":
		lc.Train.Optimizer = nasnet.SGD
	case "adam":
		lc.Train.Optimizer = nasnet.Adam
	default:
		return nil, fmt.Errorf("--optimizer must be sgd or adam, got %q", cfg.optimizer)
	}
	return cfg, checkFlags(cfg)
}

func checkFlags(cfg *config) error {
	lc := &cfg.loop
	switch {
	case lc.Width <= 0 || lc.Width%2 != 0 || lc.Width > nasnet.MaxWidth:
		return fmt.Errorf("--width must be a positive even number up to %d, got %d",
			nasnet.MaxWidth, lc.Width)
	case lc.Epochs <= 0:
		return fmt.Errorf("--epochs must be positive, got %d", lc.Epochs)
	case lc.Train.BatchSize <= 0:
		return fmt.Errorf("--batch-size must be positive, got %d", lc.Train.BatchSize)
	case !(lc.LR > 0) || math.IsInf(lc.LR, 1):
		return fmt.Errorf("--lr must be a positive finite number, got %v", lc.LR)
	case lc.WarmupEpochs < 0 || lc.WarmupEpochs > lc.Epochs:
		return fmt.Errorf("--warmup-epochs must be from 0 to --epochs %d, got %d", lc.Epochs,
			lc.WarmupEpochs)
	case !(lc.Train.Momentum >= 0 && lc.Train.Momentum < 1):
		return fmt.Errorf("--momentum must be in [0, 1), got %s",
			cfg.float32Text("momentum", lc.Train.Momentum))
	case !(lc.Train.WeightDecay >= 0) || math.IsInf(float64(lc.Train.WeightDecay), 1):
		return fmt.Errorf("--weight-decay must be 0 or a positive finite number, got %s",
			cfg.float32Text("weight-decay", lc.Train.WeightDecay))
	case !(lc.Train.LabelSmoothing >= 0 && lc.Train.LabelSmoothing < 1):
		return fmt.Errorf("--label-smoothing must be in [0, 1), got %s",
			cfg.float32Text("label-smoothing", lc.Train.LabelSmoothing))
	case lc.Cutout < 0 || lc.Cutout > nasnet.ImageSize:
		return fmt.Errorf("--cutout must be from 0 to %d pixels, got %d", nasnet.ImageSize,
			lc.Cutout)
	case !(lc.Train.GradClipNorm >= 0) || math.IsInf(float64(lc.Train.GradClipNorm), 1):
		return fmt.Errorf("--grad-clip must be 0 or a positive finite number, got %s",
			cfg.float32Text("grad-clip", lc.Train.GradClipNorm))
	case cfg.threads < 0 || cfg.threads > backend.MaxThreads:
		return fmt.Errorf("--threads must be from 0 to %d, got %d", backend.MaxThreads,
			cfg.threads)
	case cfg.limitTrain < 0:
		return fmt.Errorf("--limit-train must be 0 or positive, got %d", cfg.limitTrain)
	case cfg.evalLimit < 0:
		return fmt.Errorf("--eval-limit must be 0 or positive, got %d", cfg.evalLimit)
	case cfg.saveEvery < 0:
		return fmt.Errorf("--checkpoint-interval must be 0 or positive, got %v", cfg.saveEvery)
	case cfg.checkpoint != "" && cfg.resume != "":
		return fmt.Errorf("--checkpoint and --resume exclude each other: --resume continues " +
			"a run with its own weights")
	case cfg.export != "" && !strings.HasSuffix(cfg.export, ".ckpt") &&
		!strings.HasSuffix(cfg.export, ".safetensors"):
		return fmt.Errorf("--export %s must end in .ckpt or .safetensors", cfg.export)
	case cfg.plotPath != "" && !strings.HasSuffix(cfg.plotPath, ".png"):
		return fmt.Errorf("--plot %s must end in .png", cfg.plotPath)
	case cfg.out != "" && !strings.HasSuffix(cfg.out, ".safetensors"):
		return fmt.Errorf("--out %s must end in .safetensors", cfg.out)
	case cfg.out != "" && strings.HasSuffix(cfg.out, ".weights.safetensors"):
		return fmt.Errorf("--out %s must not end in .weights.safetensors, the name of the "+
			"weights-only file", cfg.out)
	}
	return nil
}

// trainingFlags are the flags stored in a checkpoint, each with a function that copies the
// stored value into cfg and one that returns the value that cfg holds.
var trainingFlags = []struct {
	name  string
	copy  func(cfg *config, stored nasnet.CheckpointInfo)
	value func(cfg *config) any
}{
	{"width", func(c *config, s nasnet.CheckpointInfo) { c.loop.Width = s.Config.Width },
		func(c *config) any { return c.loop.Width }},
	{"cell", func(c *config, s nasnet.CheckpointInfo) {
		// The same cell keeps the given spec, so that the configurations compare equal.
		if cellCode(c.loop.Cell) != cellCode(s.Config.Cell) {
			c.loop.Cell = s.Config.Cell
		}
	}, func(c *config) any { return cellLabel(c.loop.Cell) }},
	{"epochs", func(c *config, s nasnet.CheckpointInfo) { c.loop.Epochs = s.Config.Epochs },
		func(c *config) any { return c.loop.Epochs }},
	{"batch-size", func(c *config, s nasnet.CheckpointInfo) {
		c.loop.Train.BatchSize = s.Config.Train.BatchSize
	}, func(c *config) any { return c.loop.Train.BatchSize }},
	{"lr", func(c *config, s nasnet.CheckpointInfo) { c.loop.LR = s.Config.LR },
		func(c *config) any { return c.loop.LR }},
	{"warmup-epochs", func(c *config, s nasnet.CheckpointInfo) {
		c.loop.WarmupEpochs = s.Config.WarmupEpochs
	}, func(c *config) any { return c.loop.WarmupEpochs }},
	{"optimizer", func(c *config, s nasnet.CheckpointInfo) {
		c.loop.Train.Optimizer = s.Config.Train.Optimizer
	}, func(c *config) any {
		return map[nasnet.Optimizer]string{nasnet.SGD: "sgd",
			nasnet.Adam: "adam"}[c.loop.Train.Optimizer]
	}},
	{"momentum", func(c *config, s nasnet.CheckpointInfo) {
		c.loop.Train.Momentum = s.Config.Train.Momentum
	}, func(c *config) any { return c.loop.Train.Momentum }},
	{"nesterov", func(c *config, s nasnet.CheckpointInfo) {
		c.loop.Train.Nesterov = s.Config.Train.Nesterov
	}, func(c *config) any { return c.loop.Train.Nesterov }},
	{"weight-decay", func(c *config, s nasnet.CheckpointInfo) {
		c.loop.Train.WeightDecay = s.Config.Train.WeightDecay
	}, func(c *config) any { return c.loop.Train.WeightDecay }},
	{"label-smoothing", func(c *config, s nasnet.CheckpointInfo) {
		c.loop.Train.LabelSmoothing = s.Config.Train.LabelSmoothing
	}, func(c *config) any { return c.loop.Train.LabelSmoothing }},
	{"cutout", func(c *config, s nasnet.CheckpointInfo) { c.loop.Cutout = s.Config.Cutout },
		func(c *config) any { return c.loop.Cutout }},
	{"grad-clip", func(c *config, s nasnet.CheckpointInfo) {
		c.loop.Train.GradClipNorm = s.Config.Train.GradClipNorm
	}, func(c *config) any { return c.loop.Train.GradClipNorm }},
	{"precision", func(c *config, s nasnet.CheckpointInfo) {
		c.loop.Train.Precision = s.Config.Train.Precision
	}, func(c *config) any { return c.loop.Train.Precision }},
	{"seed", func(c *config, s nasnet.CheckpointInfo) { c.loop.Seed = s.Config.Seed },
		func(c *config) any { return c.loop.Seed }},
	{"limit-train", func(c *config, s nasnet.CheckpointInfo) { c.limitTrain = s.TrainImages },
		func(c *config) any { return c.limitTrain }},
}

// applyCheckpoint takes the training flags that the command line leaves out from the
// checkpoint to resume, and rejects those that contradict it.
func applyCheckpoint(cfg *config, stored nasnet.CheckpointInfo) error {
	for _, f := range trainingFlags {
		given := *cfg
		f.copy(cfg, stored)
		_, set := cfg.setFlags[f.name]
		if !set || given.loop == cfg.loop && given.limitTrain == cfg.limitTrain {
			continue
		}
		wholeSet := cifar10.RecordsPerFile * len(cifar10.TrainFiles)
		if f.name == "limit-train" && given.limitTrain == 0 && stored.TrainImages == wholeSet {
			continue // 0 means the whole set, which the checkpoint used
		}
		return fmt.Errorf("%s: the checkpoint was trained with --%s %v, this run has %v; "+
			"drop the flag to use the stored value, or start a new run with another --out",
			cfg.resume, f.name, f.value(cfg), f.value(&given))
	}
	// The Adam constants have no flags, and the stored ones are kept.
	cfg.loop.Train.Beta1 = stored.Config.Train.Beta1
	cfg.loop.Train.Beta2 = stored.Config.Train.Beta2
	cfg.loop.Train.Eps = stored.Config.Train.Eps
	return checkFlags(cfg)
}

// outputPaths returns the checkpoint and weights paths and creates the default folder.
func outputPaths(cfg *config) (string, string, error) {
	out := cfg.out
	switch {
	case out == "" && cfg.resume != "":
		out = cfg.resume
	case out == "":
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", "", fmt.Errorf("no --out given and %w", err)
		}
		dir := filepath.Join(cache, "renas", "train")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", "", fmt.Errorf("creating the default --out folder: %w", err)
		}
		name := fmt.Sprintf("width%d-seed%d.safetensors", cfg.loop.Width, cfg.loop.Seed)
		if cfg.loop.Cell != nil {
			name = "cell" + cfg.loop.Cell.Hash()[:8] + "-" + name
		}
		out = filepath.Join(dir, name)
	}
	if cfg.resume == "" || !cli.SameFile(out, cfg.resume) {
		if _, err := os.Stat(out); err == nil {
			return "", "", fmt.Errorf("%s already exists: continue it with --resume %s, or "+
				"choose another --out", out, out)
		}
	}
	return out, strings.TrimSuffix(out, ".safetensors") + ".weights.safetensors", nil
}

func newLogger(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr)
	if cfg.resume != "" {
		stored, err := nasnet.ReadCheckpointInfo(cfg.resume)
		if err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
		if err := applyCheckpoint(cfg, stored); err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
	}
	out, weights, err := outputPaths(cfg)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	// Check every output before the first epoch, which can take many minutes.
	outputs := []cli.FlagPath{{Flag: "--out", Path: out}, {Flag: "--out", Path: weights},
		{Flag: "--log", Path: cfg.logPath}, {Flag: "--plot", Path: cfg.plotPath},
		{Flag: "--export", Path: cfg.export}}
	for _, o := range outputs {
		if o.Path == "" {
			continue
		}
		if err := nn.CheckOutputPath(o.Path); err != nil {
			return fmt.Errorf("%s: %w", o.Flag, err)
		}
	}
	if cfg.resume != "" && cli.SameFile(out, cfg.resume) {
		outputs = outputs[1:] // a resumed run replaces its own checkpoint
	}
	inputs := []cli.FlagPath{{Flag: "--resume", Path: cfg.resume},
		{Flag: "--checkpoint", Path: cfg.checkpoint}, {Flag: "--cell", Path: cfg.cellPath},
		{Flag: "--data", Path: cfg.data}}
	if err := cli.CheckDistinctOutputs(outputs, inputs); err != nil {
		return err
	}
	release, err := lockOutput(out)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer release()
	if cfg.resume != "" {
		var missing []string
		for _, name := range []string{"log", "plot", "export", "eval-limit",
			"checkpoint-interval"} {
			if _, ok := cfg.setFlags[name]; !ok {
				missing = append(missing, "--"+name)
			}
		}
		if len(missing) > 0 {
			log.Info("a resumed run keeps only the training flags of its checkpoint; "+
				"give the other flags again to keep them", "not_given",
				strings.Join(missing, " "))
		}
	}

	opts := backend.Options{Threads: cfg.threads, BF16: cfg.loop.Train.Precision == nasnet.BF16}
	be, err := backend.Open(cfg.platform, opts)
	if errors.Is(err, backend.ErrNoBF16) && cfg.resume == "" {
		log.Warn("--precision bf16: training in fp32", "reason", err)
		cfg.loop.Train.Precision, opts.BF16 = nasnet.FP32, false
		be, err = backend.Open(cfg.platform, opts)
	}
	if err != nil {
		return fmt.Errorf("--platform: %w", err)
	}
	defer be.Close()
	train, test, err := loadData(cfg)
	if err != nil {
		return err
	}
	loop, err := newLoop(be, cfg, train)
	if err != nil {
		return err
	}
	log.Info("training", "width", cfg.loop.Width, "cell", cellLabel(cfg.loop.Cell),
		"epochs", cfg.loop.Epochs, "cutout", cfg.loop.Cutout,
		"from_epoch", loop.Epoch(), "from_step", loop.Step(), "train_images", train.Len(),
		"steps_per_epoch", loop.StepsPerEpoch(), "batch_size", cfg.loop.Train.BatchSize,
		"checkpoint", out, "backend", be.Describe())
	if loop.Epoch() == cfg.loop.Epochs {
		log.Info("the checkpoint already contains every epoch; writing the weights only",
			"checkpoint", out)
		if cfg.plotPath != "" {
			if err := plot.WriteCurvesFile(cfg.plotPath, loop.History()); err != nil {
				return fmt.Errorf("--plot: %w", err)
			}
		}
	}

	logFile, err := openLog(cfg, loop.History())
	if err != nil {
		return err
	}
	defer logFile.close()
	var bar *progress
	opt := nasnet.RunOptions{Checkpoint: out, CheckpointInterval: cfg.saveEvery, Test: test,
		EvalLimit: cfg.evalLimit,
		OnEpoch: func(m nasnet.EpochMetrics) error {
			bar.clear()
			return finishEpoch(cfg, loop, m, weights, logFile, log)
		}}
	if !cfg.quiet && cli.IsTerminal(stderr) {
		bar = &progress{stderr: stderr, epochs: cfg.loop.Epochs, testImages: evalCount(cfg,
			test)}
		opt.OnStep, opt.OnEval = bar.step, bar.eval
	}
	err = loop.Run(ctx, opt)
	bar.clear()
	if err != nil {
		switch {
		case ctx.Err() == nil:
		case !loop.Saved() && cfg.resume == "":
			return fmt.Errorf("%w before the first checkpoint; no checkpoint was written",
				errInterrupted)
		case !loop.Saved():
			return fmt.Errorf("%w before the first checkpoint; continue with --resume %s",
				errInterrupted, cfg.resume)
		default:
			info, err := nasnet.ReadCheckpointInfo(out)
			if err != nil {
				return fmt.Errorf("%w: %w", errInterrupted, err)
			}
			return fmt.Errorf("%w: %s contains %s; continue with --resume %s",
				errInterrupted, out, describeProgress(info, loop.StepsPerEpoch()), out)
		}
		return err
	}
	if err := nasnet.SaveCheckpoint(loop.Network(), weights); err != nil {
		return err
	}
	if cfg.export != "" {
		if err := nasnet.SaveCheckpoint(loop.Network(), cfg.export); err != nil {
			return fmt.Errorf("--export: %w", err)
		}
	}
	var summary bytes.Buffer
	printSummary(&summary, loop, out, weights)
	_, err = stdout.Write(summary.Bytes())
	return err
}

// describeProgress returns how far the run of a checkpoint got, as an epoch or a step.
func describeProgress(info nasnet.CheckpointInfo, steps int) string {
	if info.Step == 0 {
		return fmt.Sprintf("epoch %d of %d", info.Epoch, info.Config.Epochs)
	}
	return fmt.Sprintf("step %d of %d of epoch %d of %d", info.Step, steps, info.Epoch+1,
		info.Config.Epochs)
}

func loadData(cfg *config) (train, test *cifar10.Set, err error) {
	if train, err = cifar10.LoadTrain(cfg.data); err != nil {
		return nil, nil, err
	}
	if cfg.limitTrain > train.Len() {
		return nil, nil, fmt.Errorf("--limit-train %d is out of range: the training set has "+
			"%d images", cfg.limitTrain, train.Len())
	}
	if cfg.limitTrain > 0 {
		train = &cifar10.Set{Images: train.Images[:cfg.limitTrain*cifar10.ImageBytes],
			Labels: train.Labels[:cfg.limitTrain]}
	}
	if test, err = cifar10.LoadTest(cfg.data); err != nil {
		return nil, nil, err
	}
	if cfg.evalLimit > test.Len() {
		return nil, nil, fmt.Errorf("--eval-limit %d is out of range: the test set has %d "+
			"images", cfg.evalLimit, test.Len())
	}
	return train, test, nil
}

// cellCode returns the code of a cell, or 0 for the ReNAS network.
func cellCode(cell *nasbench.Spec) uint64 {
	if cell == nil {
		return 0
	}
	return cell.Code()
}

// cellLabel names a network's cell in messages: its NAS-Bench-101 hash, or "renas".
func cellLabel(cell *nasbench.Spec) string {
	if cell == nil {
		return "renas"
	}
	return cell.Hash()
}

func evalCount(cfg *config, test *cifar10.Set) int {
	if cfg.evalLimit > 0 {
		return cfg.evalLimit
	}
	return test.Len()
}

func newLoop(be backend.Backend, cfg *config, train *cifar10.Set) (*nasnet.TrainLoop, error) {
	if n := train.Len(); n < cfg.loop.Train.BatchSize {
		return nil, fmt.Errorf("--batch-size %d is larger than the %d training images",
			cfg.loop.Train.BatchSize, n)
	}
	if cfg.resume == "" && cfg.checkpoint != "" {
		width := cfg.loop.Width
		if _, ok := cfg.setFlags["width"]; !ok {
			width = 0 // take the width from the checkpoint
		}
		net, err := nasnet.LoadCellCheckpoint(cfg.checkpoint, cfg.loop.Cell, width)
		if err != nil {
			return nil, fmt.Errorf("--checkpoint: %w", err)
		}
		cfg.loop.Width = net.Width
		return nasnet.NewTrainLoopFrom(be, cfg.loop, train, net)
	}
	if cfg.resume == "" {
		loop, err := nasnet.NewTrainLoop(be, cfg.loop, train)
		if err != nil {
			return nil, err
		}
		return loop, nil
	}
	loop, err := nasnet.ResumeTrainLoop(be, cfg.resume, cfg.loop, train)
	if err != nil {
		return nil, fmt.Errorf("--resume: %w", err)
	}
	return loop, nil
}

// openLog opens the --log file: truncated for a new run. When resuming, it keeps one line
// per epoch of history, the epochs that the checkpoint has completed: lines past those are
// dropped, and epochs that a killed process did not log are written from the checkpoint,
// whose metrics are float32.
func openLog(cfg *config, history []nasnet.EpochMetrics) (*epochLog, error) {
	if cfg.logPath == "" {
		return nil, nil
	}
	if cfg.resume == "" {
		// A new run creates its log with its first line, so that a run that fails before
		// then neither leaves an empty log nor empties an old one.
		return &epochLog{path: cfg.logPath}, nil
	}
	f, err := os.OpenFile(cfg.logPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--log: %w", err)
	}
	old, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("--log: %w", err)
	}
	lines := strings.SplitAfter(string(old), "\n")
	if n := len(lines); n > 0 && !strings.HasSuffix(lines[n-1], "\n") {
		lines = lines[:n-1] // an unfinished last line
	}
	keep := min(len(lines), len(history))
	var buf bytes.Buffer
	buf.WriteString(strings.Join(lines[:keep], ""))
	enc := json.NewEncoder(&buf)
	for _, m := range history[keep:] {
		if err := enc.Encode(m); err != nil {
			f.Close()
			return nil, fmt.Errorf("--log: %w", err)
		}
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(buf.Bytes(), 0)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekEnd)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("--log: %w", err)
	}
	return &epochLog{path: cfg.logPath, file: f}, nil
}

// epochLog is the --log file, which gets one JSON line per epoch. A nil *epochLog writes
// nothing.
type epochLog struct {
	path string
	file *os.File // nil until the first line of a new run
}

// write appends the metrics of one epoch, creating or emptying the file first when it is
// not open yet.
func (l *epochLog) write(m nasnet.EpochMetrics) error {
	if l == nil {
		return nil
	}
	if l.file == nil {
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("--log: %w", err)
		}
		l.file = f
	}
	if err := json.NewEncoder(l.file).Encode(m); err != nil {
		return fmt.Errorf("--log: %w", err)
	}
	return nil
}

func (l *epochLog) close() {
	if l != nil && l.file != nil {
		l.file.Close()
	}
}

// finishEpoch writes the weights, the log line and the plot of a completed epoch, whose
// checkpoint is already written.
func finishEpoch(cfg *config, loop *nasnet.TrainLoop, m nasnet.EpochMetrics, weights string,
	logFile *epochLog, log *slog.Logger) error {
	attrs := []any{"epoch", m.Epoch, "epochs", cfg.loop.Epochs, "lr", m.LR,
		"train_loss", round(m.TrainLoss), "train_top1", round(m.TrainTop1),
		"test_loss", round(m.TestLoss), "test_top1", round(m.TestTop1),
		"seconds", round(m.Seconds), "images_per_second", round(m.ImagesPerSecond)}
	if tr := loop.Trainer(); cfg.loop.Train.Precision == nasnet.FP16 {
		attrs = append(attrs, "loss_scale", tr.LossScale(), "skipped_steps", tr.SkippedSteps())
	}
	log.Info("epoch done", attrs...)
	if err := nasnet.SaveCheckpoint(loop.Network(), weights); err != nil {
		return err
	}
	if cfg.export != "" {
		if err := nasnet.SaveCheckpoint(loop.Network(), cfg.export); err != nil {
			return fmt.Errorf("--export: %w", err)
		}
	}
	if err := logFile.write(m); err != nil {
		return err
	}
	if cfg.plotPath != "" {
		if err := plot.WriteCurvesFile(cfg.plotPath, loop.History()); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
	}
	return nil
}

// round keeps 4 decimals, which is enough for a log line. NaN and infinite values stay as
// they are.
func round(v float64) float64 {
	const scale = 1e4
	if r := math.Round(v*scale) / scale; !math.IsInf(r, 0) {
		return r
	}
	return v
}

func printSummary(w io.Writer, loop *nasnet.TrainLoop, out, weights string) {
	history := loop.History()
	if len(history) == 0 {
		fmt.Fprintf(w, "no epochs trained; checkpoint %s\n", out)
		return
	}
	last := history[len(history)-1]
	fmt.Fprintf(w, "trained %d of %d epochs, width %d\n", last.Epoch, loop.Config().Epochs,
		loop.Config().Width)
	fmt.Fprintf(w, "train   loss %.4f  top-1 %6.2f %%\n", last.TrainLoss, 100*last.TrainTop1)
	fmt.Fprintf(w, "test    loss %.4f  top-1 %6.2f %% (%d images)\n", last.TestLoss,
		100*last.TestTop1, last.TestImages)
	fmt.Fprintf(w, "checkpoint %s\n", out)
	fmt.Fprintf(w, "weights    %s\n", weights)
}

// progress shows a progress bar for the steps of the current epoch, then for its
// evaluation. A nil *progress shows nothing.
type progress struct {
	stderr     io.Writer
	epochs     int
	testImages int
	bar        *progressbar.ProgressBar
	epoch      int
	evaluating bool
}

func (p *progress) newBar(total int, unit, description string) {
	p.clear()
	p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(p.stderr),
		progressbar.OptionSetDescription(description), progressbar.OptionShowCount(),
		progressbar.OptionShowIts(), progressbar.OptionSetItsString(unit),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
}

func (p *progress) step(s nasnet.StepProgress) {
	if p.bar == nil || p.epoch != s.Epoch || p.evaluating {
		p.newBar(s.Steps, "step", "")
		p.epoch, p.evaluating = s.Epoch, false
	}
	p.bar.Describe(fmt.Sprintf("epoch %d/%d  loss %.4f  top-1 %5.1f %%", s.Epoch, p.epochs,
		s.Loss, 100*s.Top1))
	p.bar.Set(s.Step)
	if s.Step == s.Steps {
		// The evaluation follows at once; starting its bar now makes its rate count the
		// first batch.
		p.newBar(p.testImages, "img", fmt.Sprintf("epoch %d/%d  test", p.epoch, p.epochs))
		p.evaluating = true
	}
}

func (p *progress) eval(done int) {
	if p.bar != nil {
		p.bar.Set(done)
	}
}

// clear removes the bar from the terminal.
func (p *progress) clear() {
	if p == nil || p.bar == nil {
		return
	}
	p.bar.Finish()
	fmt.Fprint(p.stderr, "\r\033[K")
	p.bar = nil
}
