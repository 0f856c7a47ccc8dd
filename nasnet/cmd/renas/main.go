// Command renas works with the NAS-Bench-101 search space that ReNAS searches.
//
// Usage:
//
//	go run ./nasnet/cmd/renas hash SPEC.json       print the pruned cell and its hash
//	go run ./nasnet/cmd/renas info [--json] SPEC.json
//	                                               print its parameters and FLOPs
//	go run ./nasnet/cmd/renas enumerate [flags]    build or load the cache of all cells
//	go run ./nasnet/cmd/renas train [flags]        train a ReNAS predictor on a record file
//	go run ./nasnet/cmd/renas rank [flags]         Kendall τ of a predictor on a record file
//	go run ./nasnet/cmd/renas search [flags]       score every cell of the space with a predictor
//
// A spec file is a cell in NAS-Bench-101's ModelSpec form:
//
//	{"matrix": [[0, 1, 0], [0, 0, 1], [0, 0, 0]], "ops": ["input", "conv3x3-bn-relu", "output"]}
//
// Errors are printed on one line and exit with status 2.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/renasgo/renas/internal/cli"
	"github.com/renasgo/renas/nasnet/nasbench"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "renas:", err)
		os.Exit(2)
	}
}

const usage = `Usage: renas COMMAND [flags] [args]

Commands:
  hash SPEC.json          print the pruned cell and its NAS-Bench-101 hash
  info [--json] SPEC.json print the cell's trainable parameters and FLOPs in the
                          NAS-Bench-101 CIFAR-10 network
  enumerate [flags]       build or load the cache of all 423,624 cells and print
                          the counts by vertex count
  train [flags]           train a ReNAS accuracy predictor on records of a data file
  rank [flags]            print a predictor's Kendall tau on a data file
  search [flags]          score all 423,624 cells with a predictor and print the best

Run renas COMMAND --help for the flags of a command.
`

const commandList = "hash, info, enumerate, train, rank or search"

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command: expected " + commandList)
	}
	switch args[0] {
	case "hash":
		return runHash(args[1:], stdout, stderr)
	case "info":
		return runInfo(args[1:], stdout, stderr)
	case "enumerate":
		return runEnumerate(args[1:], stdout, stderr)
	case "train":
		return runTrain(args[1:], stdout, stderr)
	case "rank":
		return runRank(args[1:], stdout, stderr)
	case "search":
		return runSearch(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	return fmt.Errorf("unknown command %q: expected %s", args[0], commandList)
}

// parseArgs parses flags placed before or after the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := cli.ParseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func specFlagSet(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: renas %s [flags] SPEC.json\n\n%s\n", name, summary)
		fmt.Fprint(stderr, "\nSPEC.json is a cell in NAS-Bench-101's ModelSpec form, {\"matrix\": "+
			"[[0, 1], [0, 0]], \"ops\": [\"input\", \"output\"]},\nwhich is pruned before use.\n")
		if hasFlags(fs) {
			fmt.Fprint(stderr, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	found := false
	fs.VisitAll(func(*flag.Flag) { found = true })
	return found
}

func readSpecArg(name string, fs *flag.FlagSet, args []string) (nasbench.Spec, error) {
	positional, err := parseArgs(fs, args)
	if err != nil {
		return nasbench.Spec{}, err
	}
	if len(positional) != 1 {
		return nasbench.Spec{}, fmt.Errorf("%s: expected one spec file, got %d arguments",
			name, len(positional))
	}
	return nasbench.ReadSpecFile(positional[0])
}

func runHash(args []string, stdout, stderr io.Writer) error {
	fs := specFlagSet("hash", "Prints the pruned cell as JSON and its NAS-Bench-101 hash.",
		stderr)
	s, err := readSpecArg("hash", fs, args)
	if err != nil {
		return err
	}
	text, err := json.Marshal(s)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "spec %s\nhash %s\n", text, s.Hash())
	return nil
}

func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := specFlagSet("info", "Prints the trainable parameters and FLOPs of the "+
		"NAS-Bench-101 CIFAR-10 network built\nfrom the cell (one 32×32 image).", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object with the keys hash, "+
		"trainable_parameters and flops")
	s, err := readSpecArg("info", fs, args)
	if err != nil {
		return err
	}
	cost, err := nasbench.DefaultNetwork.Cost(s)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			Hash                string `json:"hash"`
			TrainableParameters int64  `json:"trainable_parameters"`
			FLOPs               int64  `json:"flops"`
		}{s.Hash(), cost.Total.Params, cost.Total.FLOPs})
	}
	fmt.Fprintf(stdout, "hash                  %s\n", s.Hash())
	fmt.Fprintf(stdout, "vertices              %d\n", s.NumVertices())
	fmt.Fprintf(stdout, "edges                 %d\n", s.NumEdges())
	fmt.Fprintf(stdout, "trainable parameters  %s\n", thousands(cost.Total.Params))
	fmt.Fprintf(stdout, "FLOPs                 %s\n", thousands(cost.Total.FLOPs))
	return nil
}

func runEnumerate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("enumerate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cache := fs.String("cache", "", "cache file (default: renas/nasbench101-space.bin "+
		"under the user cache folder)")
	rebuild := fs.Bool("rebuild", false, "enumerate even when a valid cache exists")
	quiet := fs.Bool("quiet", false, "show no progress bar")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: renas enumerate [flags]\n\nLoads the NAS-Bench-101 "+
			"space from its cache, or enumerates all 423,624 cells\nand writes the cache, "+
			"then prints the cell counts by vertex count.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return fmt.Errorf("enumerate: unexpected argument %q", positional[0])
	}
	path := *cache
	if path == "" {
		if path, err = nasbench.DefaultCachePath(); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
	opt := nasbench.CacheOptions{Path: path, Rebuild: *rebuild, Logger: log}
	var bar *progressbar.ProgressBar
	stage := ""
	if !*quiet {
		opt.Progress = func(s string, done, total int) {
			if s != stage {
				if bar != nil {
					bar.Finish()
				}
				stage = s
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(stderr),
					progressbar.OptionSetDescription("enumerate: "+s),
					progressbar.OptionShowCount(), progressbar.OptionSetItsString(s),
					progressbar.OptionShowIts(),
					progressbar.OptionThrottle(200*time.Millisecond),
					progressbar.OptionClearOnFinish())
			}
			bar.Set(done)
		}
	}
	start := time.Now()
	sp, built, err := nasbench.OpenSpace(opt)
	if bar != nil {
		bar.Finish()
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	action := "loaded"
	if built {
		action = "enumerated and cached"
	}
	fmt.Fprintf(stdout, "%s %s cells in %.1f s: %s\n", action, thousands(int64(sp.Len())),
		time.Since(start).Seconds(), path)
	counts := sp.CountByVertices()
	for n := 2; n <= nasbench.MaxVertices; n++ {
		fmt.Fprintf(stdout, "  %d vertices  %8s\n", n, thousands(int64(counts[n])))
	}
	return nil
}

// thousands formats n with commas between groups of three digits.
func thousands(n int64) string {
	digits := fmt.Sprint(n)
	sign := ""
	if strings.HasPrefix(digits, "-") {
		sign, digits = "-", digits[1:]
	}
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return sign + b.String()
}
