package cpu

import "sync"

// scratchPool lends float32 slices for temporaries of the training ops, so that steady-state
// steps do not allocate.
var scratchPool sync.Pool

// getScratch returns a slice of length n with unspecified contents.
func getScratch(n int) *[]float32 {
	if p, ok := scratchPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

func putScratch(p *[]float32) { scratchPool.Put(p) }
