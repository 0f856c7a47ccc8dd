package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	fmt.Printf("kernels: path %s (AVX2+FMA3 %v, AVX-512 %v)\n", Path(), cpu.AVX2FMA, cpu.AVX512)
	os.Exit(m.Run())
}

// allPathNames lists every GEMM path the package has, available here or not.
var allPathNames = []string{"avx512", "avx2fma", "generic"}

// pathRequirements names the CPU features that each assembly path needs.
var pathRequirements = map[string]string{
	"avx512":  "AVX-512 F, CD, BW, DQ, VL, AVX2 and FMA3",
	"avx2fma": "AVX2 and FMA3",
}

// forEachPath runs f once per GEMM path as a subtest named after the path, with that path
// active. A path this CPU or build cannot run is reported as skipped, with the reason.
func forEachPath(t *testing.T, f func(t *testing.T, impl *gemmImpl)) {
	t.Helper()
	available := map[string]*gemmImpl{}
	for _, impl := range gemmImpls() {
		available[impl.name] = impl
	}
	for _, name := range allPathNames {
		t.Run(name, func(t *testing.T) {
			impl := available[name]
			if impl == nil {
				t.Skipf("path %s is not available: it needs amd64 with %s and a "+
					"build without the noasm tag", name, pathRequirements[name])
			}
			restore := useGemmImpl(impl)
			defer restore()
			f(t, impl)
		})
	}
}

// guardLen is the number of sentinel elements before and after every test buffer. It is odd
// so that the data does not start on a 32-byte boundary.
const guardLen = 7

// sentinel is a NaN with a recognisable payload. It fills guard bands and the gaps between rows,
// so an out-of-bounds read turns a result into NaN and an out-of-bounds write changes its bits.
var sentinel = math.Float32frombits(0x7fc0beef)

// guarded is a matrix inside a buffer of sentinels: guardLen sentinels, rows×cols values with
// row stride ld (the stride gaps are sentinels), and guardLen more sentinels.
type guarded struct {
	buf              []float32
	rows, cols, ld   int
	initialBufValues []float32
}

// newGuarded returns a rows×cols matrix with row stride ld whose values come from fill, or are
// sentinels when fill is nil.
func newGuarded(rows, cols, ld int, fill func() float32) *guarded {
	size := 0
	if rows > 0 && cols > 0 {
		size = (rows-1)*ld + cols
	}
	g := &guarded{buf: make([]float32, 2*guardLen+size), rows: rows, cols: cols, ld: ld}
	for i := range g.buf {
		g.buf[i] = sentinel
	}
	if fill != nil {
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				g.buf[guardLen+i*ld+j] = fill()
			}
		}
	}
	g.initialBufValues = append([]float32(nil), g.buf...)
	return g
}

// data returns the slice that a kernel receives: from the first element to the last one.
func (g *guarded) data() []float32 {
	return g.buf[guardLen : len(g.buf)-guardLen : len(g.buf)-guardLen]
}

// at returns element (i, j).
func (g *guarded) at(i, j int) float32 { return g.buf[guardLen+i*g.ld+j] }

// initial returns element (i, j) as it was when the matrix was created.
func (g *guarded) initial(i, j int) float32 { return g.initialBufValues[guardLen+i*g.ld+j] }

// inMatrix reports whether buffer index x is one of the rows×cols elements.
func (g *guarded) inMatrix(x int) bool {
	x -= guardLen
	if x < 0 || g.rows == 0 || g.cols == 0 || x >= (g.rows-1)*g.ld+g.cols {
		return false
	}
	return x%g.ld < g.cols
}

// checkUnchanged reports every element of the buffer that differs in bits from its initial
// value. With outsideOnly set it checks only the guard bands and stride gaps.
func (g *guarded) checkUnchanged(t *testing.T, name string, outsideOnly bool, label string) {
	t.Helper()
	for x, v := range g.buf {
		if outsideOnly && g.inMatrix(x) {
			continue
		}
		if math.Float32bits(v) != math.Float32bits(g.initialBufValues[x]) {
			t.Errorf("%s: %s changed at buffer index %d (offset %d from the first element): "+
				"got %v, want %v", label, name, x, x-guardLen, v, g.initialBufValues[x])
			return
		}
	}
}

// uniform returns a generator of values uniform in [-1, 1) from a seeded source.
func uniform(rng *rand.Rand) func() float32 {
	return func() float32 { return rng.Float32()*2 - 1 }
}

// nextPrime returns the smallest prime larger than x.
func nextPrime(x int) int {
	for p := max(x+1, 2); ; p++ {
		prime := true
		for d := 2; d*d <= p; d++ {
			if p%d == 0 {
				prime = false
				break
			}
		}
		if prime {
			return p
		}
	}
}
