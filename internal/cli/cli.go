// Package cli holds small helpers shared by the commands.
package cli

import (
	"io"
	"os"

	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal, where a progress bar may redraw itself; a
// progress bar written to a log file or a pipe would fill it with carriage returns.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
