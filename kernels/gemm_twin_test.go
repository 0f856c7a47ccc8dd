package kernels

// gemmF32x16x16Generic is the pure-Go twin of gemmF32x16x16AVX512: gemmF32x6x16Generic with
// 16 rows, so it requires len(a) >= 16*kc and len(c) >= 15*ldc+16. It lives with the tests
// because the pure-Go path runs the 6×16 tile.
func gemmF32x16x16Generic(a, b []float32, ldb int, c []float32, kc, ldc int,
	accumulate bool) {
	var acc [16][16]float32
	for p := 0; p < kc; p++ {
		ap := (*[16]float32)(a[p*16 : p*16+16])
		bp := (*[16]float32)(b[p*ldb : p*ldb+16])
		for i := range acc {
			ai := ap[i]
			row := &acc[i]
			for j := range row {
				row[j] += ai * bp[j]
			}
		}
	}
	for i := range acc {
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

// dotNT4x4Generic is the pure-Go twin of dotNT4x4Tiles, which runs dotNT4x4AVX512 per tile:
// dotNT2x4Generic with 4 rows of A per tile.
func dotNT4x4Generic(a []float32, lda int, b []float32, ldb int, k int, c []float32, ldc int,
	tiles int) {
	for i := range 4 * tiles {
		for j := range 4 {
			c[i*ldc+j] += dotGeneric(a[i*lda:i*lda+k], b[j*ldb:])
		}
	}
}
