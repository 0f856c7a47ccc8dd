// Command ckpt lists, converts and compares checkpoints in MindSpore's .ckpt format and in
// safetensors.
//
// Usage:
//
//	go run ./nasnet/cmd/ckpt list FILE
//	go run ./nasnet/cmd/ckpt convert [--crc] [--dtype f16|bf16] IN OUT
//	go run ./nasnet/cmd/ckpt diff A B
//
// The format of each file is chosen by its extension, .ckpt or .safetensors. The exit status
// is 0 on success, 1 when diff finds a difference, and 2 on any error.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/renasgo/renas/internal/cli"
	"github.com/renasgo/renas/kernels"
	"github.com/renasgo/renas/nn"
	"github.com/renasgo/renas/nn/mindspore"
	"github.com/renasgo/renas/tensor"
)

const usage = `Usage: ckpt COMMAND [flags] ARGS

Lists, converts and compares checkpoints. Each file's format is chosen by its extension:
.ckpt (MindSpore) or .safetensors.

Commands:
  list FILE        print each tensor's name, dtype and shape, then the tensor count and
                   the total number of parameters (elements)
  convert IN OUT   convert between .ckpt and .safetensors, keeping names, order, dtypes
                   and bytes
  diff A B         print the tensors found in only one file, shape and dtype changes, and
                   the max |Δ| of each tensor that differs

Run "ckpt COMMAND --help" for the flags of a command. The exit status is 0 on success,
1 when diff finds a difference, and 2 on any error.
`

// errDiffer is returned by diff when the checkpoints differ. run reports it by the exit
// status alone.
var errDiffer = errors.New("checkpoints differ")

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		// A convert stopped half way leaves no temporary file beside its output.
		if args := os.Args[1:]; len(args) > 2 && args[0] == "convert" {
			nn.RemoveTemps(args[len(args)-1])
		}
		code := 128 + int(syscall.SIGINT)
		if sig == syscall.SIGTERM {
			code = 128 + int(syscall.SIGTERM)
		}
		os.Exit(code)
	}()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the exit status. Errors are printed to stderr as one
// line.
func run(args []string, stdout, stderr io.Writer) int {
	err := dispatch(args, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errDiffer):
		return 1
	}
	fmt.Fprintln(stderr, "ckpt:", oneLine(err.Error()))
	return 2
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command (list, convert or diff)")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	case "list":
		return runList(args[1:], stdout, stderr)
	case "convert":
		return runConvert(args[1:], stderr)
	case "diff":
		return runDiff(args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q: expected list, convert or diff (run ckpt --help)",
		args[0])
}

// newFlagSet returns a flag set whose --help prints the command's usage line and summary.
func newFlagSet(name, synopsis, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ckpt %s\n\n%s\n", synopsis, summary)
		if hasFlags(fs) {
			fmt.Fprintln(stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseArgs parses the flags of a command and checks that exactly want arguments remain.
func parseArgs(fs *flag.FlagSet, args []string, want int) ([]string, error) {
	if err := cli.ParseFlags(fs, args); err != nil {
		return nil, err
	}
	for i, arg := range fs.Args() {
		switch {
		case strings.HasPrefix(arg, "-") && i > 0:
			return nil, fmt.Errorf("%s: flag %s comes after a file argument: give the flags "+
				"first", fs.Name(), arg)
		case arg == "":
			return nil, fmt.Errorf("%s: file argument %d is empty", fs.Name(), i+1)
		}
	}
	if fs.NArg() != want {
		noun := "file arguments"
		if want == 1 {
			noun = "file argument"
		}
		return nil, fmt.Errorf("%s takes %d %s, got %d (see ckpt %s --help)",
			fs.Name(), want, noun, fs.NArg(), fs.Name())
	}
	return fs.Args(), nil
}

func runList(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("list", "list FILE",
		"Prints one line per tensor (name, dtype, shape) in file order, then the number of\n"+
			"tensors and the total number of parameters, counting every element of every\n"+
			"tensor, optimizer state included. Dtypes are spelled as the file spells them.",
		stderr)
	files, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	f, err := readCheckpoint(files[0])
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	params, bytes := 0, 0
	for _, t := range f.tensors {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", quoteIfNeeded(t.Name), f.dtypeName(t),
			formatShape(t.Shape))
		params += t.NumElements()
		bytes += len(t.Data)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	noun := "tensors"
	if len(f.tensors) == 1 {
		noun = "tensor"
	}
	_, err = fmt.Fprintf(stdout, "%d %s, %d parameters, %d bytes of data\n", len(f.tensors),
		noun, params, bytes)
	return err
}

func runConvert(args []string, stderr io.Writer) error {
	fs := newFlagSet("convert", "convert [--crc] [--dtype D] IN OUT",
		"Converts IN to OUT, each a .ckpt or .safetensors file, keeping every tensor's name,\n"+
			"position, dtype, shape and bytes, unless --dtype rounds the float32 tensors to\n"+
			"f16 or bf16, which halves their size. OUT is written atomically. A MindSpore\n"+
			"\"str\" entry has no safetensors dtype and cannot be converted to .safetensors.",
		stderr)
	crc := fs.Bool("crc", false, "end a .ckpt output with MindSpore's CRC-32 trailer "+
		"(MindSpore 2.3 and newer read it; older versions cannot)")
	dtype := fs.String("dtype", "", "f16 or bf16: store every float32 tensor in that type, "+
		"rounded to nearest even (eval and train read either into float32)")
	files, err := parseArgs(fs, args, 2)
	if err != nil {
		return err
	}
	if *dtype != "" && *dtype != "f16" && *dtype != "bf16" {
		return fmt.Errorf("--dtype must be f16 or bf16, got %q", *dtype)
	}

	in, out := files[0], files[1]
	outFormat, err := formatOf(out)
	if err != nil {
		return err
	}
	if *crc && outFormat != formatCkpt {
		return fmt.Errorf("%s: --crc applies only to a .ckpt output", out)
	}
	if err := nn.CheckOutputPath(out); err != nil {
		return err
	}
	if cli.SameFile(in, out) {
		return fmt.Errorf("%s is the same file as the input %s: give the output another name",
			out, in)
	}
	f, err := readCheckpoint(in)
	if err != nil {
		return err
	}
	for i, t := range f.tensors {
		if t.Name == "" && outFormat == formatCkpt {
			return fmt.Errorf("%s: tensor %d has an empty name, which a .ckpt file cannot store: "+
				"convert it to .safetensors instead", in, i+1)
		}
	}
	if *dtype != "" {
		for _, t := range f.tensors {
			roundFloat32Tensor(t, *dtype)
		}
	}

	if outFormat == formatCkpt {
		return mindspore.WriteFile(out, f.tensors, mindspore.WriteOptions{CRC: *crc})
	}
	raw := make([]nn.RawTensor, len(f.tensors))
	for i, t := range f.tensors {
		if raw[i], err = t.Raw(); err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
	}
	return nn.WriteSafetensorsRawFile(out, raw)
}

// roundFloat32Tensor stores a Float32 tensor as Float16 (dtype "f16") or BFloat16 ("bf16"),
// rounding to nearest even; tensors of other types are left as they are.
func roundFloat32Tensor(t *mindspore.Tensor, dtype string) {
	if t.DType != "Float32" {
		return
	}
	n := len(t.Data) / 4
	src := make([]float32, n)
	for i := range src {
		src[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	half := make([]uint16, n)
	if dtype == "f16" {
		kernels.Float32ToFloat16s(half, src)
		t.DType = "Float16"
	} else {
		for i, v := range src {
			half[i] = tensor.Float32ToBFloat16(v)
		}
		t.DType = "BFloat16"
	}
	t.Data = make([]byte, 2*n)
	for i, h := range half {
		binary.LittleEndian.PutUint16(t.Data[2*i:], h)
	}
}

type format int

const (
	formatCkpt format = iota
	formatSafetensors
)

func formatOf(path string) (format, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".ckpt":
		return formatCkpt, nil
	case ".safetensors":
		return formatSafetensors, nil
	default:
		return 0, fmt.Errorf("%s: unknown checkpoint extension %q (want .ckpt or "+
			".safetensors)", path, ext)
	}
}

// checkpoint is the contents of a file in either format. Tensors from a safetensors file
// carry the matching MindSpore dtype, which maps back to the safetensors name one to one.
type checkpoint struct {
	path    string
	format  format
	tensors []*mindspore.Tensor
}

func readCheckpoint(path string) (*checkpoint, error) {
	f, err := formatOf(path)
	if err != nil {
		return nil, err
	}
	c := &checkpoint{path: path, format: f}
	if f == formatCkpt {
		c.tensors, err = mindspore.ReadFile(path)
		return c, err
	}
	raw, err := nn.ReadSafetensorsRawFile(path)
	if err != nil {
		return nil, err
	}
	c.tensors = make([]*mindspore.Tensor, len(raw))
	for i, rt := range raw {
		if c.tensors[i], err = mindspore.FromRaw(rt); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return c, nil
}

// dtypeName returns the dtype of t as the file's format spells it.
func (c *checkpoint) dtypeName(t *mindspore.Tensor) string {
	if c.format == formatSafetensors {
		if name, ok := mindspore.SafetensorsDType(t.DType); ok {
			return name
		}
	}
	return t.DType
}

func formatShape(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// quoteIfNeeded returns name as it is, or quoted when it contains spaces, control characters
// or invalid UTF-8, so that every listed name fits on one line and in one column.
func quoteIfNeeded(name string) string {
	if name != "" && strconv.CanBackquote(name) && !strings.ContainsAny(name, " \t`") {
		return name
	}
	return strconv.Quote(name)
}

func oneLine(s string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}
