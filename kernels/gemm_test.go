package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gemmTolerance returns the allowed error of an fp32 sum of k products, given mag, the sum of the
// absolute values of the terms (including the initial C). Recursive fp32 summation of k+1 terms,
// in any order and with or without FMA, is within (k+1)·2⁻²⁴·mag of the exact result, and
// rounding the result to fp32 adds 2⁻²⁴·|result| at most.
func gemmTolerance(k int, mag float64) float64 {
	return max(1e-5, float64(k+2)*0x1p-24*mag)
}

// refGemm returns initial C (when accumulate) plus A·B in float64, and for each element the sum
// of the absolute values of its terms.
func refGemm(m, n, k int, a, b, c *guarded, accumulate bool) (ref, mag []float64) {
	ref = make([]float64, m*n)
	mag = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var sum, abs float64
			if accumulate {
				sum = float64(c.initial(i, j))
				abs = math.Abs(sum)
			}
			for p := 0; p < k; p++ {
				term := float64(a.at(i, p)) * float64(b.at(p, j))
				sum += term
				abs += math.Abs(term)
			}
			ref[i*n+j] = sum
			mag[i*n+j] = abs
		}
	}
	return ref, mag
}

// checkAgainst compares the m×n matrix c with want, allowing scale times gemmTolerance, and
// reports the first element outside the tolerance.
func checkAgainst(t *testing.T, label string, c *guarded, want, mag []float64, k int,
	scale float64) {
	t.Helper()
	for i := 0; i < c.rows; i++ {
		for j := 0; j < c.cols; j++ {
			got := float64(c.at(i, j))
			tol := scale * gemmTolerance(k, mag[i*c.cols+j])
			if !(math.Abs(got-want[i*c.cols+j]) <= tol) {
				t.Errorf("%s: C[%d,%d] = %v, want %v (tolerance %.3g)",
					label, i, j, got, want[i*c.cols+j], tol)
				return
			}
		}
	}
}

// gemmCase is one product shape of the test sweep.
type gemmCase struct{ m, n, k int }

// tiles describes how a case splits into micro-kernel tiles, for failure messages.
func (tc gemmCase) tiles(impl *gemmImpl) string {
	return fmt.Sprintf("%d×%d full %d×%d tiles, edge rows %d, edge cols %d",
		tc.m/impl.mr, tc.n/impl.nr, impl.mr, impl.nr, tc.m%impl.mr, tc.n%impl.nr)
}

// gemmSweep returns the shapes derived from the 6×16 tile and the blocking. It covers every m up
// to 2·MR+1 and n up to 2·NR+1 at a few k, and k below, at, above and a multiple of KC at a few
// tile shapes. Then come shapes that cross the MC block, are wide or come from the network.
func gemmSweep() []gemmCase {
	const mr, nr = 6, 16
	var cases []gemmCase
	for _, k := range []int{1, 5, gemmKC + 1} {
		for m := 1; m <= 2*mr+1; m++ {
			for n := 1; n <= 2*nr+1; n++ {
				cases = append(cases, gemmCase{m, n, k})
			}
		}
	}
	ks := []int{2, 3, 4, 8, 27, gemmKC - 1, gemmKC, 2 * gemmKC, 2*gemmKC + 37}
	shapes := []gemmCase{{1, 1, 0}, {mr, nr, 0}, {mr + 1, nr + 1, 0}, {2*mr + 1, 2*nr + 1, 0}}
	for _, k := range ks {
		for _, s := range shapes {
			cases = append(cases, gemmCase{s.m, s.n, k})
		}
	}
	return append(cases,
		gemmCase{gemmMC + 7, 40, 30},
		gemmCase{9, 2067, 20},
		gemmCase{gemmMC + 1, 1041, gemmKC + 3},
		gemmCase{64, 1024, 27},
		gemmCase{64, 256, 576},
		gemmCase{128, 64, 1152},
		gemmCase{128, 256, 128},
	)
}

// runGemmCase runs one product on the active path, with Sgemm or with PackA and SgemmPacked,
// and checks it against the float64 reference, the pure-Go twin and the guard bands.
func runGemmCase(t *testing.T, impl *gemmImpl, tc gemmCase, accumulate, packed bool,
	rng *rand.Rand) {
	t.Helper()
	m, n, k := tc.m, tc.n, tc.k
	lda, ldb, ldc := nextPrime(k), nextPrime(n), nextPrime(n+1)
	a := newGuarded(m, k, lda, uniform(rng))
	b := newGuarded(k, n, ldb, uniform(rng))
	var fill func() float32 // C is not read when accumulate is false, so it stays NaN.
	if accumulate {
		fill = uniform(rng)
	}
	c := newGuarded(m, n, ldc, fill)

	op := "Sgemm"
	if packed {
		op = "SgemmPacked"
	}
	label := fmt.Sprintf("%s m=%d n=%d k=%d lda=%d ldb=%d ldc=%d accumulate=%v path=%s (%s)",
		op, m, n, k, lda, ldb, ldc, accumulate, impl.name, tc.tiles(impl))
	product := func(dst *guarded) {
		if packed {
			p := PackA(m, k, a.data(), lda)
			SgemmPacked(p, n, b.data(), ldb, dst.data(), ldc, accumulate)
			return
		}
		Sgemm(m, n, k, a.data(), lda, b.data(), ldb, dst.data(), ldc, accumulate)
	}
	product(c)

	a.checkUnchanged(t, "A", false, label)
	b.checkUnchanged(t, "B", false, label)
	c.checkUnchanged(t, "C outside the m×n matrix", true, label)
	ref, mag := refGemm(m, n, k, a, b, c, accumulate)
	checkAgainst(t, label+" vs float64 reference", c, ref, mag, k, 1)

	if impl == genericGemm {
		return
	}
	twin := newGuarded(m, n, ldc, nil)
	copy(twin.buf, c.initialBufValues)
	restore := useGemmImpl(genericGemm)
	product(twin)
	restore()
	want := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			want[i*n+j] = float64(twin.at(i, j))
		}
	}
	checkAgainst(t, label+" vs pure-Go twin", c, want, mag, k, 2)
}

func TestSgemmSweep(t *testing.T) {
	forEachPath(t, func(t *testing.T, impl *gemmImpl) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, tc := range gemmSweep() {
			for _, accumulate := range []bool{false, true} {
				runGemmCase(t, impl, tc, accumulate, false, rng)
			}
		}
	})
}

func TestSgemmPackedSweep(t *testing.T) {
	forEachPath(t, func(t *testing.T, impl *gemmImpl) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, tc := range gemmSweep() {
			for _, accumulate := range []bool{false, true} {
				runGemmCase(t, impl, tc, accumulate, true, rng)
			}
		}
	})
}

func TestSgemmNetworkShapes(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("the full-size network shapes take seconds per path, minutes with -race")
	}
	forEachPath(t, func(t *testing.T, impl *gemmImpl) {
		rng := rand.New(rand.NewPCG(5, 6))
		for _, tc := range []gemmCase{{128, 1024, 1152}, {64, 1024, 576}} {
			runGemmCase(t, impl, tc, true, true, rng)
		}
	})
}

func TestSgemmZeroSizes(t *testing.T) {
	forEachPath(t, func(t *testing.T, impl *gemmImpl) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, tc := range []gemmCase{{0, 5, 3}, {4, 0, 3}, {4, 5, 0}, {0, 0, 0}} {
			for _, accumulate := range []bool{false, true} {
				for _, packed := range []bool{false, true} {
					runGemmCase(t, impl, tc, accumulate, packed, rng)
				}
			}
		}
	})
}

// TestSgemmPackedReuse multiplies one PackedA by several B matrices of different widths.
func TestSgemmPackedReuse(t *testing.T) {
	forEachPath(t, func(t *testing.T, impl *gemmImpl) {
		rng := rand.New(rand.NewPCG(9, 10))
		m, k := 13, gemmKC+5
		a := newGuarded(m, k, k, uniform(rng))
		p := PackA(m, k, a.data(), k)
		assert.Equal(t, m, p.Rows())
		assert.Equal(t, k, p.Cols())
		for _, n := range []int{1, 16, 33, 100} {
			b := newGuarded(k, n, n, uniform(rng))
			c := newGuarded(m, n, n, nil)
			SgemmPacked(p, n, b.data(), n, c.data(), n, false)
			ref, mag := refGemm(m, n, k, a, b, c, false)
			label := fmt.Sprintf("reused PackedA m=%d n=%d k=%d path=%s", m, n, k, impl.name)
			checkAgainst(t, label, c, ref, mag, k, 1)
			c.checkUnchanged(t, "C outside the m×n matrix", true, label)
		}
	})
}

// TestSgemmConcurrent splits the columns of one product over goroutines, as the callers do, and
// compares the result with a single call.
func TestSgemmConcurrent(t *testing.T) {
	forEachPath(t, func(t *testing.T, impl *gemmImpl) {
		rng := rand.New(rand.NewPCG(11, 12))
		m, n, k := 70, 8*48+5, 300
		a := newGuarded(m, k, k, uniform(rng))
		b := newGuarded(k, n, n, uniform(rng))
		want := newGuarded(m, n, n, nil)
		Sgemm(m, n, k, a.data(), k, b.data(), n, want.data(), n, false)

		p := PackA(m, k, a.data(), k)
		got := newGuarded(m, n, n, nil)
		const block = 48
		var wg sync.WaitGroup
		for j0 := 0; j0 < n; j0 += block {
			cols := min(block, n-j0)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if j0/block%2 == 0 {
					Sgemm(m, cols, k, a.data(), k, b.data()[j0:], n, got.data()[j0:], n, false)
					return
				}
				SgemmPacked(p, cols, b.data()[j0:], n, got.data()[j0:], n, false)
			}()
		}
		wg.Wait()
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				if got.at(i, j) != want.at(i, j) {
					t.Fatalf("concurrent C[%d,%d] = %v, want %v from one call, m=%d n=%d k=%d "+
						"path=%s", i, j, got.at(i, j), want.at(i, j), m, n, k, impl.name)
				}
			}
		}
	})
}

func TestSgemmSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items at random")
	}
	forEachPath(t, func(t *testing.T, impl *gemmImpl) {
		m, n, k := 64, 256, 576
		a := make([]float32, m*k)
		b := make([]float32, k*n)
		c := make([]float32, m*n)
		p := PackA(m, k, a, k)
		allocs := testing.AllocsPerRun(20, func() {
			Sgemm(m, n, k, a, k, b, n, c, n, false)
			SgemmPacked(p, n, b, n, c, n, true)
		})
		assert.Zero(t, allocs, "allocations per Sgemm+SgemmPacked call pair, path=%s", impl.name)
	})
}

func TestSgemmPanics(t *testing.T) {
	a := make([]float32, 6)
	b := make([]float32, 12)
	c := make([]float32, 8)
	assert.PanicsWithValue(t, "kernels: Sgemm: negative dimension in m=-1, n=4, k=3",
		func() { Sgemm(-1, 4, 3, a, 3, b, 4, c, 4, false) })
	assert.PanicsWithValue(t,
		"kernels: Sgemm: lda = 2 is smaller than the 3 columns of a (want >= 3)",
		func() { Sgemm(2, 4, 3, a, 2, b, 4, c, 4, false) })
	assert.PanicsWithValue(t,
		"kernels: Sgemm: len(a) = 5 is too short for 2×3 with lda = 3 (want >= 6)",
		func() { Sgemm(2, 4, 3, a[:5], 3, b, 4, c, 4, false) })
	assert.PanicsWithValue(t,
		"kernels: Sgemm: len(b) = 11 is too short for 3×4 with ldb = 4 (want >= 12)",
		func() { Sgemm(2, 4, 3, a, 3, b[:11], 4, c, 4, false) })
	assert.PanicsWithValue(t,
		"kernels: Sgemm: len(c) = 8 is too short for 2×4 with ldc = 5 (want >= 9)",
		func() { Sgemm(2, 4, 3, a, 3, b, 4, c, 5, false) })
	assert.PanicsWithValue(t, "kernels: SgemmPacked: p is nil, want a matrix from PackA",
		func() { SgemmPacked(nil, 4, b, 4, c, 4, false) })
	p := PackA(2, 3, a, 3)
	assert.PanicsWithValue(t,
		"kernels: SgemmPacked: ldb = 3 is smaller than the 4 columns of b (want >= 4)",
		func() { SgemmPacked(p, 4, b, 3, c, 4, false) })
	assert.PanicsWithValue(t,
		"kernels: PackA: len(a) = 5 is too short for 2×3 with lda = 3 (want >= 6)",
		func() { PackA(2, 3, a[:5], 3) })
}

// microKernels returns the micro-kernels this build and CPU can run, keyed by path name.
func microKernels() map[string]*gemmImpl {
	kernels := map[string]*gemmImpl{}
	for _, impl := range gemmImpls() {
		kernels[impl.name] = impl
	}
	return kernels
}

// microKernelTwins maps each assembly micro-kernel to its pure-Go twin, which has the same tile.
var microKernelTwins = map[string]microKernel{
	"avx2fma": gemmF32x6x16Generic,
	"avx512":  gemmF32x16x16Generic,
}

// TestGemmMicroKernel calls each micro-kernel on packed A panels and on B panels with row
// strides of 16 and more. It compares the kernel with the float64 reference and with its
// pure-Go twin, and checks that it reads only its panels and writes only its tile.
func TestGemmMicroKernel(t *testing.T) {
	kernels := microKernels()
	rng := rand.New(rand.NewPCG(13, 14))
	for _, name := range allPathNames {
		impl := kernels[name]
		if impl == nil {
			t.Logf("%s micro-kernel not available on this CPU or build", name)
			continue
		}
		twin := microKernelTwins[name]
		if name == "generic" {
			// The twin of gemmF32x16x16AVX512 is checked here too, as it runs on any CPU.
			name, impl = "generic 16×16", &gemmImpl{mr: 16, nr: 16, kernel: gemmF32x16x16Generic}
		} else {
			require.NotNil(t, twin, "micro-kernel %s has no pure-Go twin in the test", name)
		}
		t.Run(name, func(t *testing.T) {
			checkMicroKernel(t, rng, impl.mr, impl.mr, impl.kernel, twin)
		})
		for rows, kernel := range impl.edge {
			if kernel == nil {
				continue
			}
			t.Run(fmt.Sprintf("%s/rows=%d", name, rows), func(t *testing.T) {
				checkMicroKernel(t, rng, impl.mr, rows, kernel,
					func(a, b []float32, ldb int, c []float32, kc, ldc int, accumulate bool) {
						gemmF32xRx16Generic(rows, a, b, ldb, c, kc, ldc, accumulate)
					})
			})
		}
	}
	// The 6×16 twin as the generic path uses it.
	t.Run("generic", func(t *testing.T) {
		checkMicroKernel(t, rng, genericGemm.mr, genericGemm.mr, genericGemm.kernel, nil)
	})
}

// checkMicroKernel checks a micro-kernel that computes the first rows rows of a tile from a
// packed A panel of mr rows. It compares the kernel with the float64 reference, and with twin
// unless it is nil, on every kc, ldb and ldc of the test. Between the rows of a B panel with
// ldb > 16 lie guard values, which spoil the result if the kernel reads them.
func checkMicroKernel(t *testing.T, rng *rand.Rand, mr, rows int, kernel, twin microKernel) {
	const nr = 16
	for _, kc := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, gemmKC - 1, gemmKC, gemmKC + 1, 1000} {
		for _, ld := range [][2]int{{nr, nr}, {nr + 1, nr + 13}, {23, 1027}, {37, nr}} {
			ldc, ldb := ld[0], ld[1]
			for _, accumulate := range []bool{false, true} {
				a := newGuarded(kc, mr, mr, uniform(rng))
				b := newGuarded(kc, nr, ldb, uniform(rng))
				var fill func() float32
				if accumulate {
					fill = uniform(rng)
				}
				c0 := newGuarded(rows, nr, ldc, fill)
				// a holds A transposed (kc rows of mr values), as packA lays out one panel.
				at := newGuarded(rows, kc, max(1, kc), nil)
				for i := 0; i < rows; i++ {
					for p := 0; p < kc; p++ {
						at.buf[guardLen+i*at.ld+p] = a.at(p, i)
					}
				}
				ref, mag := refGemm(rows, nr, kc, at, b, c0, accumulate)

				c := newGuarded(rows, nr, ldc, nil)
				copy(c.buf, c0.initialBufValues)
				kernel(a.data(), b.data(), ldb, c.data(), kc, ldc, accumulate)
				label := fmt.Sprintf("kc=%d ldb=%d ldc=%d accumulate=%v", kc, ldb, ldc,
					accumulate)
				a.checkUnchanged(t, "A panel", false, label)
				b.checkUnchanged(t, "B panel", false, label)
				c.checkUnchanged(t, "C outside the tile", true, label)
				checkAgainst(t, label+" vs float64 reference", c, ref, mag, kc, 1)
				if twin == nil {
					continue
				}

				cTwin := newGuarded(rows, nr, ldc, nil)
				copy(cTwin.buf, c0.initialBufValues)
				twin(a.data(), b.data(), ldb, cTwin.data(), kc, ldc, accumulate)
				want := make([]float64, rows*nr)
				for i := 0; i < rows; i++ {
					for j := 0; j < nr; j++ {
						want[i*nr+j] = float64(cTwin.at(i, j))
					}
				}
				checkAgainst(t, label+" vs pure-Go twin", c, want, mag, kc, 2)
			}
		}
	}
}

func TestFMAPeakProbesMatchTwin(t *testing.T) {
	probes := fmaPeakProbes()
	if len(probes) == 0 {
		t.Skip("no FMA peak probe: it needs amd64 with AVX2 and FMA3 and a build without noasm")
	}
	// 0.5·0.25 = 0.125 and every partial sum is exact in fp32, so all must agree bit for bit.
	for _, probe := range probes {
		for _, n := range []int{0, 1, 2, 1000} {
			assert.Equal(t, fmaPeakGeneric(n, 0.5, 0.25), probe.run(n, 0.5, 0.25),
				"%s probe, n=%d", probe.name, n)
		}
	}
	assert.Equal(t, float32(12*1000*0.125), fmaPeakGeneric(1000, 0.5, 0.25))
}

func TestPathName(t *testing.T) {
	want := "pure Go"
	switch impls := asmGemmImpls(); {
	case len(impls) > 0 && cpu.AVX512:
		want = "avx-512"
	case len(impls) > 0:
		want = "avx2+fma"
	}
	assert.Equal(t, want, Path())
	restore := ForceGeneric()
	assert.Equal(t, "pure Go", Path())
	restore()
	assert.Equal(t, want, Path())
}

// TestPackAliased checks which B panels are packed for their 4 KiB row stride, and that
// SgemmPacked gives the same product whether L2 holds such a panel or not.
func TestPackAliased(t *testing.T) {
	saved := cpu.L2
	defer func() { cpu.L2 = saved }()
	for _, tc := range []struct {
		l2, ldb, kc int
		want        bool
	}{
		{512 << 10, 1024, 256, true},
		{512 << 10, 1024, 128, false},
		{512 << 10, 3072, 129, true},
		{1 << 20, 1024, 256, false},
		{0, 2048, 1, true},
		{512 << 10, 1000, 256, false},
	} {
		cpu.L2 = tc.l2
		assert.Equal(t, tc.want, packAliased(tc.ldb, tc.kc), "L2 %d, ldb %d, kc %d", tc.l2,
			tc.ldb, tc.kc)
	}

	m, n, k, ldb := 13, 45, 300, aliasingStride
	rng := rand.New(rand.NewPCG(15, 16))
	a := newGuarded(m, k, k, uniform(rng))
	b := newGuarded(k, n, ldb, uniform(rng))
	forEachPath(t, func(t *testing.T, impl *gemmImpl) {
		for _, l2 := range []int{512 << 10, 1 << 20} {
			cpu.L2 = l2
			c := newGuarded(m, n, n+3, uniform(rng))
			SgemmPacked(PackA(m, k, a.data(), k), n, b.data(), ldb, c.data(), n+3, true)
			label := fmt.Sprintf("L2 %d, path %s", l2, impl.name)
			b.checkUnchanged(t, "B", false, label)
			c.checkUnchanged(t, "C outside the m×n matrix", true, label)
			ref, mag := refGemm(m, n, k, a, b, c, true)
			checkAgainst(t, label+" vs float64 reference", c, ref, mag, k, 1)
		}
	})
}

// TestEdgeKernelsMatchWholeTile checks that each edge kernel gives its rows bit for bit as the
// whole-tile kernel does, so that a row of C does not depend on where the tiles fall.
func TestEdgeKernelsMatchWholeTile(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	forEachPath(t, func(t *testing.T, impl *gemmImpl) {
		if impl.edge == nil {
			t.Skipf("path %s computes the last rows as a whole tile", impl.name)
		}
		const kc, ldb = 37, 21
		a := make([]float32, impl.mr*kc)
		b := make([]float32, (kc-1)*ldb+impl.nr)
		for i := range a {
			a[i] = 2*rng.Float32() - 1
		}
		for i := range b {
			b[i] = 2*rng.Float32() - 1
		}
		whole := make([]float32, impl.mr*impl.nr)
		impl.kernel(a, b, ldb, whole, kc, impl.nr, false)
		for rows := 1; rows < impl.mr; rows++ {
			c := make([]float32, rows*impl.nr)
			impl.edge[rows](a, b, ldb, c, kc, impl.nr, false)
			assert.Equal(t, whole[:rows*impl.nr], c, "%d rows", rows)
		}
	})
}
