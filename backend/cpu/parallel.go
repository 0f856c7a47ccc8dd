package cpu

import (
	"runtime"
	"sync"
)

// task is work that parallelRun splits: run computes part [lo, hi) of it on worker.
type task interface {
	run(worker, lo, hi int)
}

// funcTask adapts a function to task.
type funcTask func(worker, lo, hi int)

func (f funcTask) run(worker, lo, hi int) { f(worker, lo, hi) }

// parallelFor splits [0, n) into at most b.threads contiguous ranges and calls f once per
// range, on the backend's workers. worker is the range's index. It returns when all calls
// have returned. The closure f is allocated on the heap; ops on the inference path use
// parallelRun with a task that they own instead.
func (b *Backend) parallelFor(n int, f func(worker, lo, hi int)) {
	b.parallelRun(n, funcTask(f))
}

// parallelRun is parallelFor with a task. It allocates nothing once the workers run.
func (b *Backend) parallelRun(n int, t task) {
	workers := min(b.threads, n)
	if workers <= 1 {
		if n > 0 {
			t.run(0, 0, n)
		}
		return
	}
	b.pool.run(n, workers, t)
	// The workers hold the pool, not b: keep b, whose cleanup stops the pool, alive until
	// they are done.
	runtime.KeepAlive(b)
}

// workerPool is the goroutines that run the ranges of parallelRun after the first, which
// the calling goroutine runs itself. They start on first use and stop when the backend is
// closed or garbage collected.
type workerPool struct {
	size  int // helper goroutines
	once  sync.Once
	mu    sync.Mutex // one parallelRun at a time
	jobs  []chan job
	done  chan struct{}
	close sync.Once
}

// job is one range of a parallelRun.
type job struct {
	t              task
	worker, lo, hi int
}

func newWorkerPool(threads int) *workerPool {
	return &workerPool{size: threads - 1}
}

// run splits [0, n) into workers ranges; workers must be from 2 to size+1. It waits for the
// helpers also when the caller's range panics, so that no completion of this call is left
// for the next one to take as its own.
func (p *workerPool) run(n, workers int, t task) {
	p.once.Do(p.start)
	p.mu.Lock()
	defer p.mu.Unlock()
	sent := 0
	defer func() {
		for ; sent > 0; sent-- {
			<-p.done
		}
	}()
	for w := 1; w < workers; w++ {
		p.jobs[w-1] <- job{t: t, worker: w, lo: w * n / workers, hi: (w + 1) * n / workers}
		sent++
	}
	t.run(0, 0, n/workers)
}

func (p *workerPool) start() {
	p.jobs = make([]chan job, p.size)
	p.done = make(chan struct{}, p.size)
	for i := range p.jobs {
		jobs := make(chan job)
		p.jobs[i] = jobs
		go func() {
			for j := range jobs {
				j.t.run(j.worker, j.lo, j.hi)
				p.done <- struct{}{}
			}
		}()
	}
}

// stop ends the goroutines, if they were started.
func (p *workerPool) stop() {
	p.close.Do(func() {
		p.once.Do(func() {}) // no start after stop
		for _, jobs := range p.jobs {
			close(jobs)
		}
	})
}

// attachPool gives b a worker pool that stops when b becomes unreachable.
func attachPool(b *Backend) {
	b.pool = newWorkerPool(b.threads)
	runtime.AddCleanup(b, func(p *workerPool) { p.stop() }, b.pool)
}
