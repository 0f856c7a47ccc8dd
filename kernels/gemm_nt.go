package kernels

// SgemmNT computes C = A·Bᵀ (accumulate=false) or C += A·Bᵀ, where A is m×k with row stride
// lda and B is n×k with row stride ldb, so that both operands are read along their rows, as
// for the weight gradient dy·xᵀ of a convolution. C is m×n with row stride ldc.
//
// The rules on C, concurrency and panics are those of Sgemm. SgemmNT computes tiles of dot
// products (2×4 in 8 lanes, or 4×4 in 16 lanes on AVX-512) over blocks of gemmNTKC values of
// k. Edge tiles and the last values of k short of a whole vector are summed one at a time.
func SgemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int,
	accumulate bool) {
	checkDims("SgemmNT", m, n, k)
	checkMatrix("SgemmNT", "a", "lda", a, m, k, lda)
	checkMatrix("SgemmNT", "b", "ldb", b, n, k, ldb)
	checkMatrix("SgemmNT", "c", "ldc", c, m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	if !accumulate {
		clearMatrix(c, m, n, ldc)
	}
	if k == 0 {
		return
	}
	impl := activeGemm.Load()
	kv := k / impl.ntK * impl.ntK
	mTiles, nTiles := m/impl.ntMR*impl.ntMR, n/impl.ntNR*impl.ntNR
	for pc := 0; mTiles > 0 && pc < kv; pc += gemmNTKC {
		kc := min(gemmNTKC, kv-pc)
		for j := 0; j < nTiles; j += impl.ntNR {
			impl.dotNT(a[pc:], lda, b[j*ldb+pc:], ldb, kc, c[j:], ldc, mTiles/impl.ntMR)
		}
	}
	// The tiles still lack the last k-kv products, and the edge rows and columns lack all.
	if kv < k {
		for i := range mTiles {
			for j := range nTiles {
				c[i*ldc+j] += dotGeneric(a[i*lda+kv:i*lda+k], b[j*ldb+kv:])
			}
		}
	}
	for i := range m {
		first := nTiles
		if i >= mTiles {
			first = 0
		}
		for j := first; j < n; j++ {
			c[i*ldc+j] += dotGeneric(a[i*lda:i*lda+k], b[j*ldb:])
		}
	}
}

// gemmNTKC is the length of the blocks of k of SgemmNT. A 4×4 tile then reads 16 KiB of
// rows, which stay in L1 while the tile's sums run.
const gemmNTKC = 512

// dotGeneric returns the dot product of x and y[:len(x)], summed in order.
func dotGeneric(x, y []float32) float32 {
	y = y[:len(x)]
	var sum float32
	for p, v := range x {
		sum += v * y[p]
	}
	return sum
}

// dotNT2x4Generic is the pure-Go twin of dotNT2x4AVX2: it adds the dot products of rows
// [0, 2·tiles) of a with rows 0-3 of b, over k values, to the tiles 2×4 tiles of c below each
// other.
func dotNT2x4Generic(a []float32, lda int, b []float32, ldb int, k int, c []float32, ldc int,
	tiles int) {
	for i := range 2 * tiles {
		for j := range 4 {
			c[i*ldc+j] += dotGeneric(a[i*lda:i*lda+k], b[j*ldb:])
		}
	}
}
