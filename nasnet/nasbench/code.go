package nasbench

import "fmt"

// Code packs a spec into one integer: the vertex count in bits 0-2, the edges i→j (i < j) of
// the 7×7 matrix in row-major order in bits 3-23, and the ops of the interior vertices, two
// bits each, from bit 24. A spec's code is never 0.
func (s Spec) Code() uint64 {
	code := uint64(s.n)
	bit := 3
	for i := range MaxVertices {
		for j := i + 1; j < MaxVertices; j++ {
			if i < s.n && j < s.n && s.Edge(i, j) {
				code |= 1 << bit
			}
			bit++
		}
	}
	for v := 1; v < s.n-1; v++ {
		code |= uint64(s.ops[v]) << (24 + 2*(v-1))
	}
	return code
}

// SpecFromCode returns the spec whose Code is code.
func SpecFromCode(code uint64) (Spec, error) {
	n := int(code & 7)
	if n < 2 || code>>34 != 0 {
		return Spec{}, fmt.Errorf("nasbench: %#x is not a cell code", code)
	}

	matrix := make([][]int, n)
	for i := range matrix {
		matrix[i] = make([]int, n)
	}
	bit := 3
	for i := range MaxVertices {
		for j := i + 1; j < MaxVertices; j++ {
			if code>>bit&1 == 1 {
				if j >= n {
					return Spec{}, fmt.Errorf("nasbench: %#x is not a cell code", code)
				}
				matrix[i][j] = 1
			}
			bit++
		}
	}

	ops := make([]Op, n)
	ops[0], ops[n-1] = OpInput, OpOutput
	for v := 1; v < n-1; v++ {
		ops[v] = Op(code >> (24 + 2*(v-1)) & 3)
	}

	s, err := NewSpec(matrix, ops)
	if err != nil {
		return Spec{}, err
	}
	if s.Code() != code {
		return Spec{}, fmt.Errorf("nasbench: %#x is not the code of a pruned cell", code)
	}
	return s, nil
}
