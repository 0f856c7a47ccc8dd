// Command curves draws the learning curves of several training runs into one PNG image, from
// the JSON-lines logs that train --log writes.
//
//	go run ./nasnet/cmd/curves --out compare.png fp32=w16-fp32.jsonl bf16=w16-bf16.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/renasgo/renas/internal/cli"
	"github.com/renasgo/renas/nasnet"
	"github.com/renasgo/renas/nasnet/plot"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "curves:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("curves", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "curves.png", "PNG file to write")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: curves [--out FILE.png] NAME=LOG.jsonl...\n\n"+
			"Draws the loss and top-1 curves of each training log (train --log) in one image,\n"+
			"each run under its NAME.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}

	if fs.NArg() == 0 {
		return fmt.Errorf("no logs given: pass NAME=LOG.jsonl for each run (see --help)")
	}
	if !strings.HasSuffix(*out, ".png") {
		return fmt.Errorf("--out %s must end in .png", *out)
	}

	var runs []plot.Run
	for _, arg := range fs.Args() {
		if strings.HasPrefix(arg, "-") {
			return fmt.Errorf("flag %s comes after a log argument: give the flags first", arg)
		}
		name, path, ok := strings.Cut(arg, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("argument %q is not NAME=LOG.jsonl", arg)
		}
		if cli.SameFile(*out, path) {
			return fmt.Errorf("--out %s is the same file as the log %s: give --out another "+
				"name", *out, path)
		}
		history, err := readLog(path)
		if err != nil {
			return err
		}
		runs = append(runs, plot.Run{Name: name, History: history})
	}

	if err := plot.WriteRunsFile(*out, runs); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	noun := "runs"
	if len(runs) == 1 {
		noun = "run"
	}
	fmt.Fprintf(stdout, "wrote %s (%d %s)\n", *out, len(runs), noun)
	return nil
}

// maxLogLine is the longest line that readLog accepts, far above a train --log line.
const maxLogLine = 1 << 20

// readLog reads the epoch metrics of a train --log file, one JSON object per line.
func readLog(path string) ([]nasnet.EpochMetrics, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a folder, not a log file", path)
	}
	var history []nasnet.EpochMetrics
	lines := bufio.NewScanner(f)
	lines.Buffer(nil, maxLogLine)
	n := 0
	for lines.Scan() {
		n++
		if strings.TrimSpace(lines.Text()) == "" {
			continue
		}
		var m nasnet.EpochMetrics
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("%s:%d: invalid epoch metrics: %w", path, n, err)
		}
		if m.Epoch < 1 {
			return nil, fmt.Errorf("%s:%d: epoch %d, want 1 or more", path, n, m.Epoch)
		}
		history = append(history, m)
	}
	if errors.Is(lines.Err(), bufio.ErrTooLong) {
		return nil, fmt.Errorf("%s:%d: line longer than %d bytes, which no train --log "+
			"line is", path, n+1, maxLogLine)
	}
	if err := lines.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(history) == 0 {
		return nil, fmt.Errorf("%s: no epochs in the log", path)
	}
	return history, nil
}
