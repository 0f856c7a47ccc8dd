package nasbench

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"math/bits"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// SpaceSize is the number of unique cells in the NAS-Bench-101 space.
const SpaceSize = 423624

// SpaceSizeByVertices is the number of unique cells with each vertex count (index 2 to 7).
var SpaceSizeByVertices = [MaxVertices + 1]int{0, 0, 1, 6, 84, 2441, 62010, 359082}

// Space is the set of unique cells of the NAS-Bench-101 space, sorted by hash.
type Space struct {
	cells  []Spec
	hashes [][16]byte
}

// Len returns the number of cells.
func (sp *Space) Len() int { return len(sp.cells) }

// Cell returns cell i in hash order.
func (sp *Space) Cell(i int) Spec { return sp.cells[i] }

// Hash returns the NAS-Bench-101 hash of cell i.
func (sp *Space) Hash(i int) string { return hex.EncodeToString(sp.hashes[i][:]) }

// Lookup returns the cell with the given NAS-Bench-101 hash.
func (sp *Space) Lookup(hash string) (Spec, bool) {
	sum, err := parseHash(hash)
	if err != nil {
		return Spec{}, false
	}
	i := sort.Search(len(sp.hashes), func(i int) bool {
		return bytes.Compare(sp.hashes[i][:], sum[:]) >= 0
	})
	if i == len(sp.hashes) || sp.hashes[i] != sum {
		return Spec{}, false
	}
	return sp.cells[i], true
}

// CountByVertices returns the number of cells with each vertex count.
func (sp *Space) CountByVertices() [MaxVertices + 1]int {
	var counts [MaxVertices + 1]int
	for _, c := range sp.cells {
		counts[c.n]++
	}
	return counts
}

// Progress receives the progress of a stage of the enumeration: first StageMatrices (the
// adjacency matrices examined), then StageHashes (the unique cells hashed with MD5). The
// enumerator calls it from one goroutine at a time.
type Progress func(stage string, done, total int)

// The stages that Enumerate reports.
const (
	StageMatrices = "matrices"
	StageHashes   = "hashes"
)

// Enumerate builds the space. It takes every DAG of 2 to 7 vertices with at most 9 edges
// whose vertices all lie on an input→output path, under every assignment of the three ops to
// its interior vertices, and keeps one cell per NAS-Bench-101 hash. progress may be nil.
//
// Of the isomorphic graphs that share a hash, it keeps the one that NAS-Bench-101 stores,
// the first in generationOrder. The vertex order matters because Encode is not invariant
// under relabelling.
//
// Labelled graphs are first grouped by a 64-bit fingerprint that refines vertex labels the
// same way as Hash does, but with integer mixing in place of MD5 and multiset sums in place
// of sorted joins, so two graphs share it exactly when they share the MD5 hash, barring
// collisions. Only one graph per fingerprint is hashed with MD5, and the space is then
// deduplicated by that hash.
// NOTE: a 64-bit fingerprint collision would merge two distinct cells. With about 4e5 cells
// the chance is an estimated 5e-9 (birthday bound), and the tests check the exact counts.
func Enumerate(progress Progress) *Space {
	return enumerate(MaxVertices, progress)
}

// enumerate builds the cells of up to maxVertices vertices.
func enumerate(maxVertices int, progress Progress) *Space {
	type job struct{ n, first, last int }
	const chunk = 1 << 12
	total := 0
	for n := 2; n <= maxVertices; n++ {
		total += 1 << (n * (n - 1) / 2)
	}

	jobs := make(chan job)
	results := make(chan matrixBatch)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				results <- enumerateMatrices(j.n, j.first, j.last)
			}
		}()
	}
	go func() {
		for n := 2; n <= maxVertices; n++ {
			count := 1 << (n * (n - 1) / 2)
			for first := 0; first < count; first += chunk {
				jobs <- job{n, first, min(first+chunk, count)}
			}
		}
		close(jobs)
		wg.Wait()
		close(results)
	}()

	// The fingerprint mixes in the vertex count, and so does the MD5 hash (through the
	// length of its final list), so one map serves every vertex count.
	unique := make(map[uint64]Spec, SpaceSize)
	done := 0
	for batch := range results {
		for i, s := range batch.cells {
			fp := batch.fingerprints[i]
			if kept, ok := unique[fp]; !ok || s.generationOrder() < kept.generationOrder() {
				unique[fp] = s
			}
		}
		done += batch.matrices
		if progress != nil {
			progress(StageMatrices, done, total)
		}
	}
	cells := make([]Spec, 0, len(unique))
	for _, s := range unique {
		cells = append(cells, s)
	}
	return spaceFromCells(cells, progress)
}

// matrixBatch holds one labelled cell per fingerprint found in a range of matrices.
type matrixBatch struct {
	cells        []Spec
	fingerprints []uint64
	matrices     int
}

// enumerateMatrices labels every valid n-vertex matrix whose strictly upper triangle, read
// as bits in row-major order, is in [first, last).
func enumerateMatrices(n, first, last int) matrixBatch {
	batch := matrixBatch{matrices: last - first}
	// seen maps each fingerprint to its cell's index in batch.cells.
	seen := map[uint64]int{}
	interior := n - 2
	labellings := 1
	for range interior {
		labellings *= 3
	}
	for mask := first; mask < last; mask++ {
		if bits.OnesCount(uint(mask)) > MaxEdges {
			continue
		}
		s, ok := matrixFromBits(n, mask)
		if !ok {
			continue
		}
		for labelling := range labellings {
			code := labelling
			for v := 1; v <= interior; v++ {
				s.ops[v] = interiorOps[code%3]
				code /= 3
			}
			fp := s.fingerprint()
			if k, ok := seen[fp]; ok {
				if s.generationOrder() < batch.cells[k].generationOrder() {
					batch.cells[k] = s
				}
				continue
			}
			seen[fp] = len(batch.cells)
			batch.cells = append(batch.cells, s)
			batch.fingerprints = append(batch.fingerprints, fp)
		}
	}
	return batch
}

// generationOrder returns the rank of the labelled graph in the order in which
// NAS-Bench-101's generate_graphs.py produces graphs, keeping the first of each hash. Graphs
// are ordered by vertex count, then by edge bits with edge i→j at bit j(j−1)/2+i, then by
// the interior labels read as a base-3 number with vertex 1 most significant. The cell
// specs in NAS-Bench-101's records are first in this order, which the tests check on 1,000.
func (s Spec) generationOrder() uint64 {
	var edges uint64
	for j := 1; j < s.n; j++ {
		for i := 0; i < j; i++ {
			if s.Edge(i, j) {
				edges |= 1 << (j*(j-1)/2 + i)
			}
		}
	}
	var labels uint64
	for v := 1; v < s.n-1; v++ {
		labels = 3*labels + uint64(s.ops[v])
	}
	// 21 edge bits and labels below 3^5 = 243 fit under the vertex count.
	return uint64(s.n)<<32 | edges<<8 | labels
}

// matrixFromBits builds the n-vertex graph with the given upper-triangle bits. It returns
// false unless every vertex but the output has an out-edge and every vertex but the input an
// in-edge, which in a DAG puts every vertex on an input→output path.
func matrixFromBits(n, mask int) (Spec, bool) {
	var s Spec
	s.n = n
	bit := 0
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if mask&(1<<bit) != 0 {
				s.out[i] |= 1 << j
			}
			bit++
		}
	}
	var hasIn uint8
	for i := 0; i < n; i++ {
		hasIn |= s.out[i]
		if i < n-1 && s.out[i] == 0 {
			return Spec{}, false
		}
	}
	if hasIn|1 != uint8(1<<n-1) {
		return Spec{}, false
	}
	s.ops[0] = OpInput
	s.ops[n-1] = OpOutput
	return s, true
}

// fingerprint returns a 64-bit stand-in for Hash: the same label refinement, as integers.
func (s Spec) fingerprint() uint64 {
	n := s.n
	var h, next [MaxVertices]uint64
	for v := 0; v < n; v++ {
		h[v] = mix64(uint64(s.outDegree(v))<<16 | uint64(s.inDegree(v))<<8 |
			uint64(uint8(s.ops[v])))
	}
	for range n {
		for v := 0; v < n; v++ {
			var in, out uint64
			for u := 0; u < n; u++ {
				if s.out[u]&(1<<v) != 0 {
					in += mix64(h[u] ^ 0x9e3779b97f4a7c15)
				}
				if s.out[v]&(1<<u) != 0 {
					out += mix64(h[u] ^ 0xc2b2ae3d27d4eb4f)
				}
			}
			next[v] = mix64(mix64(mix64(in)^out) ^ h[v])
		}
		h = next
	}
	var sum uint64
	for v := 0; v < n; v++ {
		sum += mix64(h[v])
	}
	return mix64(sum ^ uint64(n))
}

// mix64 is the SplitMix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// spaceFromCells hashes the cells with MD5 on every core, keeps one cell per hash and
// sorts them by hash.
func spaceFromCells(cells []Spec, progress Progress) *Space {
	hashes := make([][16]byte, len(cells))
	workers := runtime.GOMAXPROCS(0)
	var hashed atomic.Int64
	finished := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			count := 0
			for i := w; i < len(cells); i += workers {
				hashes[i] = cells[i].hashSum()
				if count++; count%1024 == 0 {
					hashed.Add(1024)
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(finished)
	}()

	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for waiting := true; waiting; {
		select {
		case <-finished:
			waiting = false
		case <-ticker.C:
			if progress != nil {
				progress(StageHashes, min(int(hashed.Load()), len(cells)), len(cells))
			}
		}
	}
	if progress != nil {
		progress(StageHashes, len(cells), len(cells))
	}

	sp := &Space{cells: cells, hashes: hashes}
	sortSpace(sp)
	kept := 0
	for i := range sp.cells {
		if i > 0 && sp.hashes[i] == sp.hashes[kept-1] {
			continue
		}
		sp.cells[kept], sp.hashes[kept] = sp.cells[i], sp.hashes[i]
		kept++
	}
	sp.cells, sp.hashes = sp.cells[:kept], sp.hashes[:kept]
	return sp
}

func sortSpace(sp *Space) {
	order := make([]int, len(sp.cells))
	for i := range order {
		order[i] = i
	}
	// Among equal hashes, the first in generationOrder comes first and is the one kept.
	slices.SortFunc(order, func(a, b int) int {
		if c := bytes.Compare(sp.hashes[a][:], sp.hashes[b][:]); c != 0 {
			return c
		}
		return cmp.Compare(sp.cells[a].generationOrder(), sp.cells[b].generationOrder())
	})
	cells := make([]Spec, len(order))
	hashes := make([][16]byte, len(order))
	for i, k := range order {
		cells[i] = sp.cells[k]
		hashes[i] = sp.hashes[k]
	}
	sp.cells, sp.hashes = cells, hashes
}
