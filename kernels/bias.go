package kernels

import "fmt"

// BiasReLU adds bias[i] to every element of row i of the rows×cols matrix c (stride ldc), then
// clamps at 0 if relu.
//
// Only c[i*ldc+j] with 0 <= i < rows and 0 <= j < cols is touched. The clamp keeps NaN as NaN.
// BiasReLU panics if rows or cols is negative, ldc < max(1, cols), len(bias) < rows, or c is
// too short.
func BiasReLU(c []float32, rows, cols, ldc int, bias []float32, relu bool) {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("kernels: BiasReLU: negative dimension in rows=%d, cols=%d", rows, cols))
	}
	checkMatrix("BiasReLU", "c", "ldc", c, rows, cols, ldc)
	if len(bias) < rows {
		panic(fmt.Sprintf("kernels: BiasReLU: len(bias) = %d is shorter than rows = %d",
			len(bias), rows))
	}
	for i := 0; i < rows; i++ {
		// v·1 + bias rounds once, exactly as v + bias does.
		row := c[i*ldc:][:cols]
		ScaleShift(row, row, 1, bias[i], relu)
	}
}
