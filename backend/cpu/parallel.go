package cpu

import "sync"

// parallelFor splits [0, n) into at most b.threads contiguous ranges and calls f once per
// range, each on its own goroutine. worker is the range's index. It returns when all calls
// have returned.
func (b *Backend) parallelFor(n int, f func(worker, lo, hi int)) {
	workers := min(b.threads, n)
	if workers <= 1 {
		if n > 0 {
			f(0, 0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(w, lo, hi)
		}()
	}
	wg.Wait()
}
