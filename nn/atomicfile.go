package nn

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CheckOutputPath returns an error when path cannot receive an atomic write: the errors of
// ResolveOutputPath, and a folder in which no file can be created, which it finds by creating
// and removing one. Commands call it before long work, so a bad output path fails at once
// instead of after the work is done.
func CheckOutputPath(path string) error {
	target, err := ResolveOutputPath(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	probe, err := os.CreateTemp(dir, "."+filepath.Base(target)+".tmp*")
	if err != nil {
		return fmt.Errorf("%s: cannot create files in folder %s: %w", path, dir,
			unwrapPathError(err))
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// ResolveOutputPath returns the file that a write to path replaces, and an error when path
// cannot receive an atomic write: its folder is missing, or it exists and is not a regular
// file (a folder, a device, a pipe). A symbolic link resolves to its target, so the link
// stays in place and the target is replaced.
func ResolveOutputPath(path string) (string, error) {
	target := path
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		target = resolved
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", path, unwrapPathError(err))
	}
	st, err := os.Stat(target)
	switch {
	case err == nil && st.IsDir():
		return "", fmt.Errorf("%s is a folder, not a file", path)
	case err == nil && !st.Mode().IsRegular():
		return "", fmt.Errorf("%s: not a regular file (%v)", path, st.Mode().Type())
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%s: %w", path, unwrapPathError(err))
	}
	dir := filepath.Dir(target)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("%s: folder %s does not exist", path, dir)
	}
	return target, nil
}

// WriteFileAtomic writes a file through write into a temporary file beside it, syncs it and
// renames it over the file. A file that already exists keeps its mode; a new one gets 0644.
// On any error the temporary file is removed and the file is unchanged. Errors name path,
// never the temporary file; see ResolveOutputPath for the paths that are rejected. After the
// rename it removes the temporary files of earlier writes to the same file that a killed
// process left behind, so two processes must not write the same file at once.
func WriteFileAtomic(path string, write func(io.Writer) error) (err error) {
	target, err := ResolveOutputPath(path)
	if err != nil {
		return err
	}
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(target); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp*")
	if err != nil {
		return fmt.Errorf("%s: %w", path, unwrapPathError(err))
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	fail := func(e error) error { return fmt.Errorf("%s: %w", path, unwrapPathError(e)) }
	// CreateTemp makes the file private (0600).
	if err = tmp.Chmod(mode); err != nil {
		return fail(err)
	}
	if err = write(tmp); err != nil {
		return fail(err)
	}
	if err = tmp.Sync(); err != nil {
		return fail(err)
	}
	if err = tmp.Close(); err != nil {
		return fail(err)
	}
	if err = os.Rename(tmp.Name(), target); err != nil {
		return fail(err)
	}
	RemoveTemps(target)
	return nil
}

// RemoveTemps removes the temporary files that WriteFileAtomic creates for target: names of
// the form .BASE.tmpDIGITS beside it, which only a killed write leaves behind. A command that
// stops on a signal calls it for its outputs. Errors are ignored.
func RemoveTemps(target string) {
	if resolved, err := filepath.EvalSymlinks(target); err == nil {
		target = resolved
	}
	dir := filepath.Dir(target)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + filepath.Base(target) + ".tmp"
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || rest == "" || !e.Type().IsRegular() ||
			strings.Trim(rest, "0123456789") != "" {
			continue
		}
		os.Remove(filepath.Join(dir, e.Name()))
	}
}

// unwrapPathError drops the operation and temporary path of an *fs.PathError, so messages name
// the user's path only.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
