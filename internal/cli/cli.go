// Package cli holds small helpers shared by the commands.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal, where a progress bar may redraw itself. A
// progress bar written to a log file or a pipe would fill it with carriage returns.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ParseFlags parses args with fs and returns flag errors as one line, without the usage text
// that the flag package prints with them. For -h and --help it prints fs.Usage and returns
// flag.ErrHelp.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage()
		return err
	case err != nil:
		// The flag package spells flag names with one dash, and the help with two.
		msg := err.Error()
		for _, prefix := range []string{"not defined: -", "for flag -", "an argument: -"} {
			msg = strings.Replace(msg, prefix, prefix+"-", 1)
		}
		return fmt.Errorf("%s (see --help)", msg)
	}
	return nil
}

// ParseFlagsNoArgs parses args as ParseFlags does, for a command that takes flags only. It
// returns an error naming the first argument left after the flags.
func ParseFlagsNoArgs(fs *flag.FlagSet, args []string) error {
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 && strings.HasPrefix(fs.Arg(0), "-") {
		return fmt.Errorf("unexpected argument %q after --, which ends the flags", fs.Arg(0))
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	return nil
}

// AvailableMemory returns the memory that the kernel reports as available to new
// allocations (MemAvailable in /proc/meminfo), in bytes, and false where that is unknown.
func AvailableMemory() (int64, bool) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(
				strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, false
			}
			return kb << 10, true
		}
	}
	return 0, false
}
