package cpu

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend"
	"github.com/renasgo/renas/backend/backendtest"
	"github.com/renasgo/renas/kernels"
)

func TestMain(m *testing.M) {
	fmt.Println("kernels:", kernels.Path())
	os.Exit(m.Run())
}

func TestConformance(t *testing.T) {
	for _, threads := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("threads=%d", threads), func(t *testing.T) {
			backendtest.Run(t, func(t *testing.T) backend.Backend {
				b, err := New(threads)
				require.NoError(t, err)
				return b
			})
		})
	}
}

func TestRegistry(t *testing.T) {
	b, err := backend.Open("CPU", backend.Options{Threads: 2})
	require.NoError(t, err)
	require.Equal(t, "CPU", b.Platform())
	_, err = backend.Open("GPU", backend.Options{})
	require.ErrorIs(t, err, backend.ErrNotAvailable)
	require.ErrorContains(t, err,
		"GPU backend is not available in this build (this build has CPU)")
	_, err = backend.Open("TPU", backend.Options{})
	require.ErrorIs(t, err, backend.ErrUnknownPlatform)
}

func TestTrainingConformance(t *testing.T) {
	for _, threads := range []int{1, 2} {
		t.Run(fmt.Sprintf("threads=%d", threads), func(t *testing.T) {
			backendtest.RunTraining(t, func(t *testing.T) backend.Trainer {
				b, err := New(threads)
				require.NoError(t, err)
				return b
			})
		})
	}
}
