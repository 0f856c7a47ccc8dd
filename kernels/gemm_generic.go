package kernels

// gemmF32x6x16Generic is the pure-Go twin of gemmF32x6x16AVX2FMA. It computes one 6×16 tile of
// C from a packed A panel (6 floats per k step) and 16 columns of B (row p at b[p*ldb:]), and
// stores the tile into C (accumulate=false) or adds it to C (accumulate=true). It requires
// kc >= 0, len(a) >= 6*kc, len(b) >= (kc-1)*ldb+16 if kc > 0, ldc >= 16 and
// len(c) >= 5*ldc+16.
func gemmF32x6x16Generic(a, b []float32, ldb int, c []float32, kc, ldc int, accumulate bool) {
	gemmF32xRx16Generic(6, a, b, ldb, c, kc, ldc, accumulate)
}

// gemmF32xRx16Generic computes rows [0, rows) of the tile of gemmF32x6x16Generic, rows <= 6,
// from the same packed A panel of 6 rows. It is the pure-Go twin of gemmF32x1x16AVX2FMA to
// gemmF32x5x16AVX2FMA and needs len(c) >= (rows-1)*ldc+16.
func gemmF32xRx16Generic(rows int, a, b []float32, ldb int, c []float32, kc, ldc int,
	accumulate bool) {
	var acc [6][16]float32
	for p := 0; p < kc; p++ {
		ap := a[p*6 : p*6+rows : p*6+rows]
		bp := (*[16]float32)(b[p*ldb : p*ldb+16])
		for i, ai := range ap {
			row := &acc[i]
			for j := range row {
				row[j] += ai * bp[j]
			}
		}
	}
	for i := range rows {
		dst := (*[16]float32)(c[i*ldc : i*ldc+16])
		if accumulate {
			for j := range dst {
				dst[j] += acc[i][j]
			}
		} else {
			*dst = acc[i]
		}
	}
}

// genericEdgeKernels returns the edge kernels of the pure-Go path: gemmF32xRx16Generic for
// rows 1 to 5.
func genericEdgeKernels() []microKernel {
	edge := make([]microKernel, 6)
	for rows := 1; rows < 6; rows++ {
		edge[rows] = func(a, b []float32, ldb int, c []float32, kc, ldc int, accumulate bool) {
			gemmF32xRx16Generic(rows, a, b, ldb, c, kc, ldc, accumulate)
		}
	}
	return edge
}

// fmaPeakGeneric is the pure-Go twin of fmaPeakAVX2FMA: n iterations of 12 independent
// multiply-adds, returning the sum of the 12 accumulators.
func fmaPeakGeneric(n int, x, y float32) float32 {
	var acc [12]float32
	for it := 0; it < n; it++ {
		for c := range acc {
			acc[c] += x * y
		}
	}
	var sum float32
	for _, v := range acc {
		sum += v
	}
	return sum
}
