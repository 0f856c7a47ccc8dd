// Command eval measures the top-1 accuracy of the ReNAS network, or of the NAS-Bench-101
// network around a given cell, on the CIFAR-10 test set.
//
// Usage:
//
//	go run ./nasnet/cmd/eval [flags]
//
// Run with --help for the flags.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/renasgo/renas/backend"
	_ "github.com/renasgo/renas/backend/cpu" // registers the CPU platform
	"github.com/renasgo/renas/internal/cli"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/nasnet"
	"github.com/renasgo/renas/nasnet/cifar10"
	"github.com/renasgo/renas/nasnet/nasbench"
	"github.com/renasgo/renas/nasnet/pretrained"
	"github.com/renasgo/renas/nn"
)

type config struct {
	checkpoint string
	data       string
	platform   string
	batchSize  int
	threads    int
	limit      int
	width      int
	cellPath   string
	cell       *nasbench.Spec
	seed       uint64
	saveLogits string
	json       bool
	dropLast   bool
	quiet      bool
	flip       bool
	precision  string
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "eval:", err)
		os.Exit(2)
	}
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.checkpoint, "checkpoint", "",
		fmt.Sprintf("weights to evaluate: a .safetensors file or a MindSpore .ckpt file, "+
			"whose optimizer state is ignored; without it, the built-in width-%d model, "+
			"unless --width or --cell asks for another network, which is then randomly "+
			"initialised", pretrained.Model.Width))
	fs.StringVar(&cfg.data, "data", "data",
		"CIFAR-10 binary data: a folder with cifar-10-batches-bin/ or the .tar.gz archive")
	fs.StringVar(&cfg.platform, "platform", "CPU", "backend to run on: CPU, GPU or Ascend")
	fs.IntVar(&cfg.batchSize, "batch-size", 32, "images per forward pass")
	fs.IntVar(&cfg.threads, "threads", 0, "CPU worker threads (0: one per core)")
	fs.IntVar(&cfg.limit, "limit", 0, "evaluate only the first N test images (0: all 10,000)")
	fs.IntVar(&cfg.width, "width", 0, "network width in channels (0: the checkpoint's width, "+
		"else the built-in model's, or 128 with --cell). Without a checkpoint, another width "+
		"is randomly initialised")
	fs.StringVar(&cfg.cellPath, "cell", "",
		"evaluate the NAS-Bench-101 network around the cell in this JSON spec file "+
			"({\"matrix\": ..., \"ops\": ...}) in place of the ReNAS network")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the random initialisation without --checkpoint")
	fs.StringVar(&cfg.saveLogits, "save-logits", "",
		"write the logits as a float32 [N,10] NumPy .npy file (with --flip, the logarithms "+
			"of the mean softmax outputs)")
	fs.StringVar(&cfg.precision, "precision", "fp32",
		"fp32; fp16 (weights stored in binary16, computed in fp32); or bf16 (convolutions "+
			"on bfloat16 inputs with fp32 sums, where the CPU has AVX512_BF16; fp32 elsewhere)")
	fs.BoolVar(&cfg.json, "json", false, "print the result as one JSON object")
	fs.BoolVar(&cfg.flip, "flip", false,
		"also run each image mirrored left to right and score it by the mean of the two "+
			"softmax outputs (takes twice as long)")
	fs.BoolVar(&cfg.dropLast, "drop-last", false,
		"skip a final partial batch, as MindSpore does (9,984 images at batch 32)")
	fs.BoolVar(&cfg.quiet, "quiet", false,
		"show no progress bar (none is shown when stderr is not a terminal)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: eval [flags]\n\n"+
			"Evaluates the ReNAS NAS-Bench-101 network on the CIFAR-10 test set and prints\n"+
			"top-1 and top-5 accuracy, mean cross-entropy loss, throughput and per-class\n"+
			"accuracy.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := cli.ParseFlagsNoArgs(fs, args); err != nil {
		return nil, err
	}
	switch {
	case cfg.batchSize <= 0:
		return nil, fmt.Errorf("--batch-size must be positive, got %d", cfg.batchSize)
	case cfg.threads < 0 || cfg.threads > backend.MaxThreads:
		return nil, fmt.Errorf("--threads must be from 0 to %d, got %d", backend.MaxThreads,
			cfg.threads)
	case cfg.limit < 0:
		return nil, fmt.Errorf("--limit must be 0 or positive, got %d", cfg.limit)
	case cfg.width < 0 || cfg.width%2 != 0 || cfg.width > nasnet.MaxWidth:
		return nil, fmt.Errorf("--width must be 0 or a positive even number up to %d, got %d",
			nasnet.MaxWidth, cfg.width)
	case cfg.precision != "fp32" && cfg.precision != "fp16" && cfg.precision != "bf16":
		return nil, fmt.Errorf("--precision must be fp32, fp16 or bf16, got %q", cfg.precision)
	}
	if cfg.cellPath != "" {
		cell, err := nasbench.ReadSpecFile(cfg.cellPath)
		if err != nil {
			return nil, fmt.Errorf("--cell: %w", err)
		}
		cfg.cell = &cell
	}
	if cfg.saveLogits != "" {
		if !strings.HasSuffix(cfg.saveLogits, ".npy") {
			return nil, fmt.Errorf("--save-logits %s must end in .npy", cfg.saveLogits)
		}
		if err := nn.CheckOutputPath(cfg.saveLogits); err != nil {
			return nil, fmt.Errorf("--save-logits: %w", err)
		}
		err := cli.CheckDistinctOutputs([]cli.FlagPath{{Flag: "--save-logits",
			Path: cfg.saveLogits}}, []cli.FlagPath{{Flag: "--checkpoint", Path: cfg.checkpoint},
			{Flag: "--cell", Path: cfg.cellPath}, {Flag: "--data", Path: cfg.data}})
		if err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))

	opts := backend.Options{Threads: cfg.threads, BF16: cfg.precision == "bf16"}
	be, err := backend.Open(cfg.platform, opts)
	if errors.Is(err, backend.ErrNoBF16) {
		log.Warn("--precision bf16: evaluating in fp32", "reason", err)
		cfg.precision, opts.BF16 = "fp32", false
		be, err = backend.Open(cfg.platform, opts)
	}
	if err != nil {
		return fmt.Errorf("--platform: %w", err)
	}
	defer be.Close()

	net, err := loadNetwork(cfg)
	if err != nil {
		return err
	}
	if cfg.precision == "fp16" {
		storeFloat16(net)
	}
	set, err := cifar10.LoadTest(cfg.data)
	if err != nil {
		return err
	}
	if cfg.limit > set.Len() {
		return fmt.Errorf("--limit %d is out of range: the test set has %d images",
			cfg.limit, set.Len())
	}
	total := set.Len()
	if cfg.limit > 0 {
		total = cfg.limit
	}
	if cfg.dropLast && total < cfg.batchSize {
		return fmt.Errorf("--drop-last leaves no images: %d images make no whole batch of "+
			"--batch-size %d", total, cfg.batchSize)
	}
	inf, err := nasnet.NewInference(be, net)
	if err != nil {
		return err
	}
	if err := checkMemory(inf, cfg.batchSize, total); err != nil {
		return err
	}
	switch {
	case builtIn(cfg):
		m := pretrained.Model
		cardTop1 := m.Top1
		if cfg.flip {
			cardTop1 = m.FlipTop1
		}
		log.Info("no --checkpoint given: evaluating the built-in model", "width", m.Width,
			"epochs", m.Epochs, "card_top1", cardTop1)
	case cfg.checkpoint == "":
		log.Warn("no --checkpoint given: evaluating a randomly initialised network",
			"width", net.Width, "seed", cfg.seed)
	}
	opt := nasnet.EvalOptions{BatchSize: cfg.batchSize, Limit: cfg.limit,
		DropLast: cfg.dropLast, KeepLogits: cfg.saveLogits != "", Flip: cfg.flip}
	if !cfg.quiet && cli.IsTerminal(stderr) {
		bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("eval"), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("img"),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
		opt.Progress = func(done int) { bar.Set(done) }
		defer bar.Finish()
	}
	res, err := nasnet.Evaluate(inf, set, opt)
	if err != nil {
		return err
	}
	if opt.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	// Format the result before writing the logits, so that no output file is left behind
	// by a run that fails.
	var text bytes.Buffer
	if cfg.json {
		js, err := json.Marshal(jsonResult{res, jsonLoss(res.Loss), net.Width, cellHash(net),
			be.Platform(), be.Describe(), cfg.precision, cfg.flip})
		if err != nil {
			return fmt.Errorf("--json: %w", err)
		}
		text.Write(append(js, '\n'))
	} else {
		network := fmt.Sprintf("width %d", net.Width)
		if net.Cell != nil {
			network = fmt.Sprintf("NAS-Bench-101 cell %s, width %d", cellHash(net), net.Width)
		}
		if cfg.flip {
			network += ", flip-averaged"
		}
		printResult(&text, res, network, be.Describe())
	}
	if cfg.saveLogits != "" {
		err := nn.WriteFileAtomic(cfg.saveLogits, func(w io.Writer) error {
			return nn.WriteNpy(w, res.Logits, res.Images, nasnet.NumClasses)
		})
		if err != nil {
			return fmt.Errorf("--save-logits: %w", err)
		}
	}
	if _, err := stdout.Write(text.Bytes()); err != nil {
		if cfg.saveLogits != "" {
			os.Remove(cfg.saveLogits) // a failed run leaves no output file
		}
		return err
	}
	return nil
}

// storeFloat16 rounds every parameter and running statistic of net to binary16, as a model
// stored in fp16 holds them; the computation stays in fp32.
func storeFloat16(net *nasnet.Network) {
	for _, p := range net.Params() {
		data := p.Value.Float32s()
		half := make([]uint16, len(data))
		kernels.Float32ToFloat16s(half, data)
		kernels.Float16ToFloat32s(data, half)
	}
}

// jsonResult is the --json output: the result with the network and backend it came from.
type jsonResult struct {
	*nasnet.EvalResult
	// Loss replaces the result's loss, which JSON cannot write when it is NaN or infinite.
	Loss  *float64 `json:"loss"`
	Width int      `json:"width"`
	// Cell is the NAS-Bench-101 hash of the cell; empty for the ReNAS network.
	Cell     string `json:"cell,omitempty"`
	Platform string `json:"platform"`
	Backend  string `json:"backend"`
	// Precision is the precision that ran: "fp32", "fp16" for binary16 weights or "bf16"
	// for bf16 convolutions.
	Precision string `json:"precision"`
	// Flip reports whether each image was scored with its mirror image.
	Flip bool `json:"flip"`
}

// jsonLoss returns a pointer to loss, or nil, which JSON writes as null, where loss is NaN or
// infinite. Finite weights can still give logits that overflow to infinity.
func jsonLoss(loss float64) *float64 {
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return nil
	}
	return &loss
}

// checkMemory returns an error when the largest batch, batchSize images or all total
// images when fewer, needs more activation memory than the system has available.
func checkMemory(inf *nasnet.Inference, batchSize, total int) error {
	batch := min(batchSize, total)
	need := int64(batch) * inf.BytesPerImage()
	avail, ok := cli.AvailableMemory()
	if ok && need > avail {
		return fmt.Errorf("--batch-size %d: a batch of %d images needs %.1f GiB of "+
			"activations, more than the %.1f GiB of memory available", batchSize, batch,
			float64(need)/(1<<30), float64(avail)/(1<<30))
	}
	return nil
}

// builtIn reports whether eval runs the embedded model: no --checkpoint, and neither --cell
// nor --width requests another network.
func builtIn(cfg *config) bool {
	return cfg.checkpoint == "" && cfg.cell == nil &&
		(cfg.width == 0 || cfg.width == pretrained.Model.Width)
}

func loadNetwork(cfg *config) (*nasnet.Network, error) {
	if cfg.checkpoint != "" {
		net, err := nasnet.LoadCellCheckpoint(cfg.checkpoint, cfg.cell, cfg.width)
		if err != nil {
			return nil, fmt.Errorf("--checkpoint: %w", err)
		}
		return net, nil
	}
	if builtIn(cfg) {
		return pretrained.Network()
	}
	width := cfg.width
	if width == 0 {
		width = nasnet.DefaultWidth
	}
	if cfg.cell != nil {
		return nasnet.NewBench101(*cfg.cell, width, cfg.seed)
	}
	return nasnet.New(width, cfg.seed)
}

// cellHash returns the NAS-Bench-101 hash of the network's cell, or "" for the ReNAS network.
func cellHash(net *nasnet.Network) string {
	if net.Cell == nil {
		return ""
	}
	return net.Cell.Hash()
}

func printResult(w io.Writer, res *nasnet.EvalResult, network, describe string) {
	fmt.Fprintf(w, "CIFAR-10 test set: %d images, %s, %s\n", res.Images, network, describe)
	fmt.Fprintf(w, "top-1   %6.2f %%\n", 100*res.Top1)
	fmt.Fprintf(w, "top-5   %6.2f %%\n", 100*res.Top5)
	fmt.Fprintf(w, "loss    %8.4f\n", res.Loss)
	fmt.Fprintf(w, "speed   %6.1f images/s (%.1f s)\n", res.ImagesPerSecond, res.Seconds)
	fmt.Fprintln(w, "per-class top-1:")
	names := make([]string, 0, len(res.PerClass))
	for name := range res.PerClass {
		names = append(names, name)
	}
	order := map[string]int{}
	for i, n := range cifar10.ClassNames {
		order[n] = i
	}
	sort.Slice(names, func(i, j int) bool { return order[names[i]] < order[names[j]] })
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %6.2f %%\n", name, 100*res.PerClass[name])
	}
}
