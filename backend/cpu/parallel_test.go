package cpu

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParallelRunAfterPanic checks that a panic in the caller's range, once recovered, leaves
// no completion behind: the next call still waits for all of its ranges.
func TestParallelRunAfterPanic(t *testing.T) {
	b, err := New(3)
	require.NoError(t, err)
	defer b.Close()
	func() {
		defer func() { assert.NotNil(t, recover(), "the panic reaches the caller") }()
		b.parallelFor(3, func(worker, _, _ int) {
			if worker == 0 {
				panic("range 0 failed")
			}
			time.Sleep(20 * time.Millisecond)
		})
	}()
	var done atomic.Int32
	b.parallelFor(3, func(worker, _, _ int) {
		if worker > 0 {
			time.Sleep(40 * time.Millisecond)
		}
		done.Add(1)
	})
	assert.Equal(t, int32(3), done.Load(), "every range has finished when parallelFor returns")
}
