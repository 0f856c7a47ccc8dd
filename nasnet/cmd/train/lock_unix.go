//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockOutput takes an exclusive lock on path + ".lock", creating that file if needed, so
// that two train runs never write the same checkpoint. The lock ends with the process, also
// when it is killed, or when release is called. The file contains the process ID. Release
// removes it when path does not exist, after a run that wrote no checkpoint. Otherwise it
// stays in place.
func lockOutput(path string) (release func(), err error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to create the lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("failed to lock %s: %w", name, err)
		}
		holder := "another train run"
		if b, err := os.ReadFile(name); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			holder += " (process " + strings.TrimSpace(string(b)) + ")"
		}
		return nil, fmt.Errorf("%s is writing %s: wait for it to end, or stop it", holder,
			path)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			os.Remove(name)
		}
		f.Close()
	}, nil
}
