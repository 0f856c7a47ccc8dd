package nasbench

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smallSpace enumerates the cells of up to maxVertices vertices.
func smallSpace(maxVertices int) *Space { return enumerate(maxVertices, nil) }

func TestEnumerateSmallCounts(t *testing.T) {
	stages := map[string]int{}
	sp := enumerate(5, func(stage string, done, total int) {
		assert.LessOrEqual(t, done, total, "stage %s", stage)
		stages[stage] = done
	})
	counts := sp.CountByVertices()
	for n := 2; n <= 5; n++ {
		assert.Equal(t, SpaceSizeByVertices[n], counts[n], "%d vertices", n)
	}
	assert.Equal(t, 2+8+64+1024, stages[StageMatrices]) // 2^(n(n-1)/2) for n = 2..5
	assert.Equal(t, sp.Len(), stages[StageHashes])
}

// TestFingerprintAgreesWithHash checks, on every labelled graph of up to 5 vertices, that
// two graphs share the fingerprint exactly when they share the MD5 hash.
func TestFingerprintAgreesWithHash(t *testing.T) {
	byFingerprint := map[uint64]string{}
	byHash := map[string]uint64{}
	for n := 2; n <= 5; n++ {
		for mask := range 1 << (n * (n - 1) / 2) {
			s, ok := matrixFromBits(n, mask)
			if !ok || s.NumEdges() > MaxEdges {
				continue
			}
			labellings := 1
			for range n - 2 {
				labellings *= 3
			}
			for code := range labellings {
				for v, c := 1, code; v < n-1; v, c = v+1, c/3 {
					s.ops[v] = interiorOps[c%3]
				}
				fp, hash := s.fingerprint(), s.Hash()
				if prev, ok := byFingerprint[fp]; ok {
					require.Equal(t, prev, hash, "fingerprint %x of %v", fp, s)
				}
				if prev, ok := byHash[hash]; ok {
					require.Equal(t, prev, fp, "hash %s of %v", hash, s)
				}
				byFingerprint[fp], byHash[hash] = hash, fp
			}
		}
	}
	assert.Len(t, byHash, 1+6+84+2441)
}

// relabel returns s with vertex v renumbered perm[v], and false when an edge would then
// point to a lower index.
func relabel(s Spec, perm []int) (Spec, bool) {
	t := Spec{n: s.n}
	for i := range s.n {
		t.ops[perm[i]] = s.ops[i]
		for j := range s.n {
			if !s.Edge(i, j) {
				continue
			}
			if perm[i] >= perm[j] {
				return Spec{}, false
			}
			t.out[perm[i]] |= 1 << perm[j]
		}
	}
	return t, true
}

// firstInGenerationOrder returns, among the relabellings of s that keep it upper
// triangular, the one with the lowest generationOrder, by trying every order of the
// interior vertices.
func firstInGenerationOrder(s Spec) Spec {
	best := s
	perm := make([]int, s.n)
	for v := range perm {
		perm[v] = v
	}
	var try func(k int)
	try = func(k int) {
		if k >= s.n-1 {
			if t, ok := relabel(s, perm); ok && t.generationOrder() < best.generationOrder() {
				best = t
			}
			return
		}
		for i := k; i < s.n-1; i++ {
			perm[k], perm[i] = perm[i], perm[k]
			try(k + 1)
			perm[k], perm[i] = perm[i], perm[k]
		}
	}
	try(1)
	return best
}

func TestEnumerateKeepsFirstGenerated(t *testing.T) {
	sp := smallSpace(5)
	for i := range sp.Len() {
		s := sp.Cell(i)
		require.Equal(t, firstInGenerationOrder(s), s, "cell %d, hash %s", i, sp.Hash(i))
	}
}

// The NAS-Bench-101 dataset stores the first graph of each hash in generationOrder.
func TestRecordSpecsFirstGenerated(t *testing.T) {
	for _, r := range loadRecords(t, "data-1k.json") {
		require.Equal(t, firstInGenerationOrder(*r.Spec), *r.Spec, "hash %s", r.Hash)
	}
}

func TestGenerationOrder(t *testing.T) {
	// Edge 0→1 is bit 0, edge 0→2 bit 1 and edge 1→2 bit 2 (column by column).
	s := mustSpec(t, [][]int{{0, 1, 1}, {0, 0, 1}, {0, 0, 0}},
		[]Op{OpInput, OpMaxPool3x3, OpOutput})
	assert.Equal(t, uint64(3)<<32|0b111<<8|2, s.generationOrder())
	s = mustSpec(t, [][]int{{0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}, {0, 0, 0, 0}},
		[]Op{OpInput, OpConv1x1, OpMaxPool3x3, OpOutput})
	// Edges 0→1, 1→2 and 2→3 are bits 0, 2 and 5, and labels 1 and 2 read 1·3+2.
	assert.Equal(t, uint64(4)<<32|0b100101<<8|5, s.generationOrder())
}

func TestSpaceLookup(t *testing.T) {
	sp := smallSpace(4)
	for i := range sp.Len() {
		s, ok := sp.Lookup(sp.Hash(i))
		require.True(t, ok, "cell %d", i)
		assert.Equal(t, sp.Cell(i), s)
		assert.Equal(t, sp.Hash(i), s.Hash())
	}
	_, ok := sp.Lookup(testVector.hash)
	assert.False(t, ok)
	_, ok = sp.Lookup("not a hash")
	assert.False(t, ok)
}

func TestCacheRoundTrip(t *testing.T) {
	sp := smallSpace(5)
	var buf bytes.Buffer
	_, err := sp.WriteTo(&buf)
	require.NoError(t, err)
	assert.Equal(t, headerSize+recordSize*sp.Len()+32, buf.Len())
	got, err := ReadSpace(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, sp, got)
}

func TestCacheCorrupt(t *testing.T) {
	sp := smallSpace(4)
	var buf bytes.Buffer
	_, err := sp.WriteTo(&buf)
	require.NoError(t, err)
	good := buf.Bytes()
	corrupt := func(edit func([]byte) []byte) []byte {
		return edit(append([]byte(nil), good...))
	}
	cases := map[string][]byte{
		"empty":     nil,
		"magic":     corrupt(func(b []byte) []byte { b[0] = 'X'; return b }),
		"version":   corrupt(func(b []byte) []byte { b[8] = 99; return b }),
		"truncated": corrupt(func(b []byte) []byte { return b[:len(b)-1] }),
		"flipped":   corrupt(func(b []byte) []byte { b[headerSize+3] ^= 1; return b }),
		"checksum":  corrupt(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ReadSpace(bytes.NewReader(data))
			assert.ErrorIs(t, err, ErrCorruptCache)
		})
	}
}

// TestOpenSpaceKeepsForeignFile checks that a cache path naming another kind of file is an
// error and leaves the file as it was.
func TestOpenSpaceKeepsForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.json")
	require.NoError(t, os.WriteFile(path, []byte(`[{"hash": "0"}]`), 0o644))
	for _, rebuild := range []bool{false, true} {
		_, built, err := OpenSpace(CacheOptions{Path: path, Rebuild: rebuild})
		require.Error(t, err)
		assert.Contains(t, err.Error(), path+" is not a NAS-Bench-101 space cache")
		assert.False(t, built)
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, `[{"hash": "0"}]`, string(data))
}

// TestEnumerateSpace builds the whole space through the cache: about 13 s of CPU time.
func TestEnumerateSpace(t *testing.T) {
	if testing.Short() {
		t.Skip("enumerating the whole space takes about 13 s of CPU; run without -short")
	}
	path := filepath.Join(t.TempDir(), "renas", "space.bin")
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(cacheMagic+"cut short"), 0o644))
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	start := time.Now()
	calls := 0
	sp, built, err := OpenSpace(CacheOptions{Path: path, Logger: log,
		Progress: func(stage string, done, total int) { calls++ }})
	require.NoError(t, err)
	t.Logf("enumerated %d cells in %v", sp.Len(), time.Since(start))
	assert.True(t, built)
	assert.Contains(t, logs.String(), "rebuilding")
	assert.Positive(t, calls)
	assert.Equal(t, SpaceSize, sp.Len())
	assert.Equal(t, SpaceSizeByVertices, sp.CountByVertices())

	for _, r := range loadRecords(t, "data-20k.json") {
		_, ok := sp.Lookup(r.Hash)
		require.True(t, ok, "hash %s of data-20k.json is not in the space", r.Hash)
	}
	for _, r := range loadRecords(t, "data-1k.json") {
		s, ok := sp.Lookup(r.Hash)
		require.True(t, ok, "hash %s", r.Hash)
		assert.Equal(t, r.Hash, s.Hash())
		assert.Equal(t, *r.Spec, s, "hash %s", r.Hash)
	}

	again, built, err := OpenSpace(CacheOptions{Path: path, Logger: log})
	require.NoError(t, err)
	assert.False(t, built)
	assert.Equal(t, sp, again)
}
