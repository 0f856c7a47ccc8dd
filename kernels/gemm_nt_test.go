package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSgemmNT(t *testing.T) {
	forEachPath(t, func(t *testing.T, impl *gemmImpl) {
		rng := rand.New(rand.NewPCG(55, 56))
		for _, m := range []int{1, 2, 3, 5, 8} {
			for _, n := range []int{1, 4, 5, 7, 9} {
				for _, k := range []int{0, 1, 7, 8, 9, 64, 300, 513} {
					for _, accumulate := range []bool{false, true} {
						label := fmt.Sprintf("SgemmNT m=%d n=%d k=%d acc=%v", m, n, k, accumulate)
						lda, ldb, ldc := k+3, k+1, n+2
						a := newGuarded(m, k, lda, uniform(rng))
						b := newGuarded(n, k, ldb, uniform(rng))
						c := newGuarded(m, n, ldc, uniform(rng))
						SgemmNT(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc, accumulate)
						a.checkUnchanged(t, "A", false, label)
						b.checkUnchanged(t, "B", false, label)
						c.checkUnchanged(t, "C outside the matrix", true, label)
						for i := range m {
							for j := range n {
								var want float64
								if accumulate {
									want = float64(c.initial(i, j))
								}
								for p := range k {
									want += float64(a.at(i, p)) * float64(b.at(j, p))
								}
								if math.Abs(float64(c.at(i, j))-want) > 1e-6*float64(k+1) {
									t.Fatalf("%s: C[%d,%d] = %v, want %v", label, i, j,
										c.at(i, j), want)
								}
							}
						}
					}
				}
			}
		}
	})
}

// TestSgemmNTMatchesTwin checks the assembly tile against the pure-Go twin on the shapes of
// the network's weight gradients.
func TestSgemmNTMatchesTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(57, 58))
	for _, shape := range [][3]int{{16, 144, 1024}, {32, 288, 256}, {64, 64, 64}} {
		m, n, k := shape[0], shape[1], shape[2]
		a, b := make([]float32, m*k), make([]float32, n*k)
		for i := range a {
			a[i] = rng.Float32() - 0.5
		}
		for i := range b {
			b[i] = rng.Float32() - 0.5
		}
		got, want := make([]float32, m*n), make([]float32, m*n)
		SgemmNT(m, n, k, a, k, b, k, got, n, false)
		restore := ForceGeneric()
		SgemmNT(m, n, k, a, k, b, k, want, n, false)
		restore()
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-4 {
				t.Fatalf("m=%d n=%d k=%d: C[%d] = %v, the pure-Go twin gives %v", m, n, k, i,
					got[i], want[i])
			}
		}
	}
}

func TestSgemmNTAllocs(t *testing.T) {
	a, b, c := make([]float32, 4*64), make([]float32, 8*64), make([]float32, 4*8)
	allocs := testing.AllocsPerRun(20, func() { SgemmNT(4, 8, 64, a, 64, b, 64, c, 8, true) })
	assert.Zero(t, allocs)
}

// dotNTTwins maps each assembly dot-product tile to its pure-Go twin, which has the same tile.
var dotNTTwins = map[string]func(a []float32, lda int, b []float32, ldb int, k int,
	c []float32, ldc int, tiles int){
	"avx2fma": dotNT2x4Generic,
	"avx512":  dotNT4x4Generic,
}

// TestDotNTMatchesTwin calls each assembly dot-product tile directly on rows with guard
// values between them and compares it with its pure-Go twin.
func TestDotNTMatchesTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(59, 60))
	for _, impl := range gemmImpls() {
		if impl == genericGemm {
			continue
		}
		twin := dotNTTwins[impl.name]
		if twin == nil {
			t.Fatalf("dot-product tile of %s has no pure-Go twin in the test", impl.name)
		}
		for _, kt := range [][2]int{{impl.ntK, 1}, {3 * impl.ntK, 3}, {gemmNTKC, 2}} {
			k, tiles := kt[0], kt[1]
			rows := impl.ntMR * tiles
			label := fmt.Sprintf("%s k=%d tiles=%d", impl.name, k, tiles)
			a := newGuarded(rows, k, k+3, uniform(rng))
			b := newGuarded(impl.ntNR, k, k+5, uniform(rng))
			c := newGuarded(rows, impl.ntNR, impl.ntNR+3, uniform(rng))
			want := newGuarded(rows, impl.ntNR, impl.ntNR+3, nil)
			copy(want.buf, c.initialBufValues)
			impl.dotNT(a.data(), k+3, b.data(), k+5, k, c.data(), impl.ntNR+3, tiles)
			twin(a.data(), k+3, b.data(), k+5, k, want.data(), impl.ntNR+3, tiles)
			a.checkUnchanged(t, "A", false, label)
			b.checkUnchanged(t, "B", false, label)
			c.checkUnchanged(t, "C outside the tiles", true, label)
			for i := range rows {
				for j := range impl.ntNR {
					if g, w := c.at(i, j), want.at(i, j); math.Abs(float64(g-w)) > 1e-5*float64(k+1) {
						t.Fatalf("%s: C[%d,%d] = %v, the pure-Go twin gives %v", label, i, j, g, w)
					}
				}
			}
		}
	}
}
