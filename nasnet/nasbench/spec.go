package nasbench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strings"
)

// MaxVertices and MaxEdges bound a cell of the NAS-Bench-101 space, counted after pruning.
const (
	MaxVertices = 7
	MaxEdges    = 9
)

// Op is the operation of a vertex. The values of the interior ops are NAS-Bench-101's labels
// for its graph hash and the op codes of the NAS-Bench-101 record files.
type Op int8

// The vertex operations of the NAS-Bench-101 space.
const (
	OpConv3x3    Op = 0
	OpConv1x1    Op = 1
	OpMaxPool3x3 Op = 2
	OpInput      Op = -1
	OpOutput     Op = -2
)

var opNames = map[Op]string{
	OpConv3x3:    "conv3x3-bn-relu",
	OpConv1x1:    "conv1x1-bn-relu",
	OpMaxPool3x3: "maxpool3x3",
	OpInput:      "input",
	OpOutput:     "output",
}

// interiorOps lists the ops an interior vertex may have, in NAS-Bench-101's label order.
var interiorOps = [3]Op{OpConv3x3, OpConv1x1, OpMaxPool3x3}

// String returns the NAS-Bench-101 name of the op, such as "conv3x3-bn-relu".
func (op Op) String() string {
	if name, ok := opNames[op]; ok {
		return name
	}
	return fmt.Sprintf("Op(%d)", int8(op))
}

// MarshalText writes the NAS-Bench-101 name of the op.
func (op Op) MarshalText() ([]byte, error) {
	name, ok := opNames[op]
	if !ok {
		return nil, fmt.Errorf("unknown op code %d", int8(op))
	}
	return []byte(name), nil
}

// UnmarshalText reads an op from its NAS-Bench-101 name.
func (op *Op) UnmarshalText(text []byte) error {
	for code, name := range opNames {
		if string(text) == name {
			*op = code
			return nil
		}
	}
	return fmt.Errorf("unknown op %q, expected input, output, conv3x3-bn-relu, "+
		"conv1x1-bn-relu or maxpool3x3", text)
}

// ErrInvalidSpec is matched, through errors.Is, by every *SpecError.
var ErrInvalidSpec = errors.New("invalid cell spec")

// SpecError reports a cell spec that is malformed or lies outside the NAS-Bench-101 space.
type SpecError struct {
	Field string // "matrix" or "ops"
	Msg   string
}

func (e *SpecError) Error() string { return e.Field + ": " + e.Msg }

// Is makes errors.Is(err, ErrInvalidSpec) true for a *SpecError.
func (e *SpecError) Is(target error) bool { return target == ErrInvalidSpec }

func specErrorf(field, format string, args ...any) error {
	return &SpecError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Spec is a pruned, valid cell of the NAS-Bench-101 space. It is a DAG of 2 to 7 vertices
// with at most 9 edges, each from a lower to a higher index. Vertex 0 is the input, the last
// vertex is the output, and every vertex is on an input→output path. Build one with NewSpec,
// ParseSpec or ReadSpecFile, because the zero Spec is not a cell.
type Spec struct {
	n   int
	out [MaxVertices]uint8 // bit j of out[i] is set for the edge i→j
	ops [MaxVertices]Op
}

// NewSpec checks a cell given in NAS-Bench-101's ModelSpec form and returns it pruned.
// matrix[i][j] is 1 for an edge i→j and 0 otherwise. As NAS-Bench-101's ModelSpec does,
// NewSpec drops the vertices that are not on an input→output path before it checks the edge
// limit, and rejects a spec whose input and output are disconnected. Every error is a
// *SpecError.
func NewSpec(matrix [][]int, ops []Op) (Spec, error) {
	var s Spec
	n := len(matrix)
	switch {
	case n < 2:
		return s, specErrorf("matrix", "has %d rows, a cell needs at least 2 "+
			"(input and output)", n)
	case n > MaxVertices:
		return s, specErrorf("matrix", "has %d rows, the space allows at most %d vertices",
			n, MaxVertices)
	case len(ops) != n:
		return s, specErrorf("ops", "has %d entries but matrix has %d rows", len(ops), n)
	}
	s.n = n
	for i, row := range matrix {
		if len(row) != n {
			return Spec{}, specErrorf("matrix", "row %d has %d entries, expected %d", i,
				len(row), n)
		}
		for j, v := range row {
			if v != 0 && v != 1 {
				return Spec{}, specErrorf("matrix", "entry [%d][%d] is %d, expected 0 or 1",
					i, j, v)
			}
			if v == 1 && j <= i {
				return Spec{}, specErrorf("matrix", "entry [%d][%d] is 1 on or below the "+
					"diagonal; the matrix must be strictly upper triangular", i, j)
			}
			if v == 1 {
				s.out[i] |= 1 << j
			}
		}
	}
	if err := checkOps(ops); err != nil {
		return Spec{}, err
	}
	copy(s.ops[:], ops)
	pruned, ok := s.pruned()
	if !ok {
		return Spec{}, specErrorf("matrix", "no path from the input vertex to the output "+
			"vertex")
	}
	if e := pruned.NumEdges(); e > MaxEdges {
		return Spec{}, specErrorf("matrix", "has %d edges after pruning, the space allows "+
			"at most %d", e, MaxEdges)
	}
	return pruned, nil
}

func checkOps(ops []Op) error {
	last := len(ops) - 1
	if ops[0] != OpInput {
		return specErrorf("ops", "vertex 0 is %v, expected input", ops[0])
	}
	if ops[last] != OpOutput {
		return specErrorf("ops", "vertex %d (the last) is %v, expected output", last,
			ops[last])
	}
	for i := 1; i < last; i++ {
		switch ops[i] {
		case OpConv3x3, OpConv1x1, OpMaxPool3x3:
		default:
			return specErrorf("ops", "vertex %d is %v, expected conv3x3-bn-relu, "+
				"conv1x1-bn-relu or maxpool3x3", i, ops[i])
		}
	}
	return nil
}

// pruned drops the vertices that are not on an input→output path. It returns false when the
// output cannot be reached from the input.
func (s Spec) pruned() (Spec, bool) {
	last := s.n - 1
	fromInput := uint8(1)
	for i := 0; i < s.n; i++ {
		if fromInput&(1<<i) != 0 {
			fromInput |= s.out[i]
		}
	}
	toOutput := uint8(1 << last)
	for i := last - 1; i >= 0; i-- {
		if s.out[i]&toOutput != 0 {
			toOutput |= 1 << i
		}
	}
	keep := fromInput & toOutput
	if keep&1 == 0 {
		return Spec{}, false
	}

	var p Spec
	var index [MaxVertices]int
	for i := 0; i < s.n; i++ {
		if keep&(1<<i) != 0 {
			index[i] = p.n
			p.ops[p.n] = s.ops[i]
			p.n++
		}
	}
	for i := 0; i < s.n; i++ {
		if keep&(1<<i) == 0 {
			continue
		}
		for j := i + 1; j < s.n; j++ {
			if keep&(1<<j) != 0 && s.out[i]&(1<<j) != 0 {
				p.out[index[i]] |= 1 << index[j]
			}
		}
	}
	return p, true
}

// NumVertices returns the vertex count, input and output included.
func (s Spec) NumVertices() int { return s.n }

// NumEdges returns the edge count.
func (s Spec) NumEdges() int {
	e := 0
	for i := 0; i < s.n; i++ {
		e += bits.OnesCount8(s.out[i])
	}
	return e
}

// Edge reports whether the edge i→j exists.
func (s Spec) Edge(i, j int) bool {
	return i >= 0 && i < s.n && j >= 0 && j < s.n && s.out[i]&(1<<j) != 0
}

// Op returns the op of vertex i.
func (s Spec) Op(i int) Op { return s.ops[i] }

// Ops returns the op of every vertex, input and output included.
func (s Spec) Ops() []Op { return append([]Op(nil), s.ops[:s.n]...) }

// Matrix returns the adjacency matrix in ModelSpec form.
func (s Spec) Matrix() [][]int {
	m := make([][]int, s.n)
	for i := range m {
		m[i] = make([]int, s.n)
		for j := range m[i] {
			if s.out[i]&(1<<j) != 0 {
				m[i][j] = 1
			}
		}
	}
	return m
}

func (s Spec) inDegree(j int) int {
	d := 0
	for i := 0; i < j; i++ {
		if s.out[i]&(1<<j) != 0 {
			d++
		}
	}
	return d
}

// String returns the spec in a compact form, such as "0100110.0010000... [input ...]".
func (s Spec) String() string {
	var b strings.Builder
	for i := 0; i < s.n; i++ {
		if i > 0 {
			b.WriteByte('.')
		}
		for j := 0; j < s.n; j++ {
			if s.out[i]&(1<<j) != 0 {
				b.WriteByte('1')
			} else {
				b.WriteByte('0')
			}
		}
	}
	b.WriteString(" [")
	for i := 0; i < s.n; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s.ops[i].String())
	}
	b.WriteByte(']')
	return b.String()
}

// specJSON is NAS-Bench-101's ModelSpec form. The matrix entries are read as numbers so
// that 1.0 is accepted as well as 1.
type specJSON struct {
	Matrix [][]float64 `json:"matrix"`
	Ops    []string    `json:"ops"`
}

// MarshalJSON writes the spec as {"matrix": [[...]], "ops": [...]}.
func (s Spec) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Matrix [][]int `json:"matrix"`
		Ops    []Op    `json:"ops"`
	}{s.Matrix(), s.Ops()})
}

// UnmarshalJSON reads a spec in ModelSpec form and prunes it as NewSpec does.
func (s *Spec) UnmarshalJSON(data []byte) error {
	var raw specJSON
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw.Matrix == nil {
		return specErrorf("matrix", "missing")
	}
	if raw.Ops == nil {
		return specErrorf("ops", "missing")
	}
	matrix, err := intMatrix("matrix", raw.Matrix)
	if err != nil {
		return err
	}
	ops := make([]Op, len(raw.Ops))
	for i, name := range raw.Ops {
		if err := ops[i].UnmarshalText([]byte(name)); err != nil {
			return specErrorf("ops", "vertex %d: %v", i, err)
		}
	}
	spec, err := NewSpec(matrix, ops)
	if err != nil {
		return err
	}
	*s = spec
	return nil
}

// intMatrix converts a matrix of 0/1 numbers, rejecting any other value.
func intMatrix(field string, m [][]float64) ([][]int, error) {
	out := make([][]int, len(m))
	for i, row := range m {
		out[i] = make([]int, len(row))
		for j, v := range row {
			if v != 0 && v != 1 {
				return nil, specErrorf(field, "entry [%d][%d] is %v, expected 0 or 1", i, j, v)
			}
			out[i][j] = int(v)
		}
	}
	return out, nil
}

// ParseSpec reads a spec in ModelSpec JSON form and prunes it. A JSON error names the field
// where json reports one; a spec outside the space returns a *SpecError.
func ParseSpec(data []byte) (Spec, error) {
	var s Spec
	if err := json.Unmarshal(data, &s); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			if typeErr.Field == "" {
				return Spec{}, fmt.Errorf("expected a JSON object with matrix and ops, "+
					"got a JSON %s", typeErr.Value)
			}
			return Spec{}, fmt.Errorf("%s: expected %v, got a JSON %s", typeErr.Field,
				typeErr.Type, typeErr.Value)
		}
		return Spec{}, err
	}
	return s, nil
}

// MaxSpecFileSize is the largest spec file that ReadSpecFile reads. A 7×7 spec in JSON takes
// a few hundred bytes, so the limit leaves room for any formatting.
const MaxSpecFileSize = 1 << 20

// ReadSpecFile reads a spec file as ParseSpec does. Errors start with the file name.
func ReadSpecFile(path string) (Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return Spec{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSpecFileSize+1))
	if err != nil {
		return Spec{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxSpecFileSize {
		return Spec{}, fmt.Errorf("%s: larger than %d bytes, too large for a cell spec", path,
			MaxSpecFileSize)
	}
	s, err := ParseSpec(data)
	if err != nil {
		return Spec{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
