// Package datatest locates the data sets that tests read. A test whose data is missing is
// skipped with a message, except under CI=true, where it fails.
package datatest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Root returns the repository root, found from this source file's location.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// CIFAR10Archive returns the path of the CIFAR-10 binary archive kept beside the repository
// in ../shared/cifar10/.
func CIFAR10Archive(t testing.TB) string {
	t.Helper()
	return require(t, filepath.Join(Root(), "..", "shared", "cifar10", "cifar-10-binary.tar.gz"))
}

// MindSporeCheckpoints returns the folder ../shared/mindspore-ckpt/ beside the repository,
// which contains two LeNet-5 checkpoints written by MindSpore itself.
func MindSporeCheckpoints(t testing.TB) string {
	t.Helper()
	return require(t, filepath.Join(Root(), "..", "shared", "mindspore-ckpt"))
}

func require(t testing.TB, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("test data missing under CI=true: %v", err)
		}
		t.Skipf("test data not found, skipping: %v", err)
	}
	return path
}

// NASBench101File returns the path of a NAS-Bench-101 record file, such as data-1k.json,
// kept beside the repository in ../shared/nasbench101/.
func NASBench101File(t testing.TB, name string) string {
	t.Helper()
	return require(t, filepath.Join(Root(), "..", "shared", "nasbench101", name))
}
