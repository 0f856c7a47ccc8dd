package cli

import (
	"fmt"
	"os"
	"path/filepath"
)

// FlagPath is a file path given to a command-line flag.
type FlagPath struct {
	Flag string // the flag with its dashes, such as "--out"
	Path string // empty when the flag is not given
}

// CheckDistinctOutputs returns an error when an output names the same file as another
// output or as an input, so that no write replaces a file that the command still reads or
// writes. Entries with an empty Path are skipped.
func CheckDistinctOutputs(outputs, inputs []FlagPath) error {
	for i, out := range outputs {
		if out.Path == "" {
			continue
		}
		for j, other := range append(outputs[i+1:len(outputs):len(outputs)], inputs...) {
			if other.Path == "" || !SameFile(out.Path, other.Path) {
				continue
			}
			fix := "give " + out.Flag + " another path"
			if i+1+j < len(outputs) {
				fix = "give one of them another path"
			}
			return fmt.Errorf("%s %s and %s %s name the same file: %s", out.Flag, out.Path,
				other.Flag, other.Path, fix)
		}
	}
	return nil
}

// SameFile reports whether paths a and b name one file: the same absolute path, or two
// existing names of one file (a symbolic or hard link).
func SameFile(a, b string) bool {
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	if errA == nil && errB == nil && absA == absB {
		return true
	}
	stA, errA := os.Stat(a)
	stB, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(stA, stB)
}
