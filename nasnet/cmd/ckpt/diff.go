package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/renasgo/renas/nn/mindspore"
	"github.com/renasgo/renas/tensor"
)

func runDiff(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("diff", "diff A B",
		"Compares two checkpoints by tensor name. Prints the names found in only one file,\n"+
			"the tensors whose shape or dtype changed, and for every other tensor whose\n"+
			"values differ, the max |Δ| over its elements, computed in float64. A NaN on one\n"+
			"side only counts as an infinite difference. Exits with status 1 when anything\n"+
			"differs and 0 when the files hold the same tensors with the same values.",
		stderr)
	files, err := parseArgs(fs, args, 2)
	if err != nil {
		return err
	}
	a, err := readCheckpoint(files[0])
	if err != nil {
		return err
	}
	b, err := readCheckpoint(files[1])
	if err != nil {
		return err
	}
	if !printDiff(stdout, a, b) {
		return errDiffer
	}
	return nil
}

// printDiff writes the differences between a and b and reports whether there were none.
func printDiff(w io.Writer, a, b *checkpoint) bool {
	inB := make(map[string]*mindspore.Tensor, len(b.tensors))
	for _, t := range b.tensors {
		inB[t.Name] = t
	}

	inA := make(map[string]bool, len(a.tensors))
	same := true
	compared, changed := 0, 0
	maxDelta, maxName := 0.0, ""
	for _, ta := range a.tensors {
		inA[ta.Name] = true
		tb, ok := inB[ta.Name]
		if !ok {
			fmt.Fprintf(w, "only in %s: %s\n", a.path, quoteIfNeeded(ta.Name))
			same = false
			continue
		}
		if !sameShape(ta.Shape, tb.Shape) {
			fmt.Fprintf(w, "shape changed: %s %s -> %s\n", quoteIfNeeded(ta.Name),
				formatShape(ta.Shape), formatShape(tb.Shape))
			same = false
			continue
		}
		if ta.DType != tb.DType {
			fmt.Fprintf(w, "dtype changed: %s %s -> %s\n", quoteIfNeeded(ta.Name),
				a.dtypeName(ta), b.dtypeName(tb))
			same = false
		}
		d, ok := maxAbsDiff(ta, tb)
		if !ok {
			fmt.Fprintf(w, "not compared: %s (%s values)\n", quoteIfNeeded(ta.Name), ta.DType)
			continue
		}
		compared++
		if d != 0 {
			fmt.Fprintf(w, "values differ: %s max |Δ| = %.6g\n", quoteIfNeeded(ta.Name), d)
			changed++
			same = false
		}
		if d > maxDelta {
			maxDelta, maxName = d, ta.Name
		}
	}

	for _, tb := range b.tensors {
		if !inA[tb.Name] {
			fmt.Fprintf(w, "only in %s: %s\n", b.path, quoteIfNeeded(tb.Name))
			same = false
		}
	}

	fmt.Fprintf(w, "%d tensors compared, %d with different values", compared, changed)
	if maxDelta > 0 {
		fmt.Fprintf(w, ", max |Δ| = %.6g (%s)", maxDelta, quoteIfNeeded(maxName))
	}
	fmt.Fprintln(w)
	return same
}

// maxAbsDiff returns the largest |a[i] - b[i]| over the elements of two tensors of the same
// shape, and false when either is a string.
func maxAbsDiff(a, b *mindspore.Tensor) (float64, bool) {
	if a.DType == mindspore.DTypeString || b.DType == mindspore.DTypeString {
		return 0, false
	}
	n := a.NumElements()
	maxDelta := 0.0
	for i := range n {
		x, y := elementAt(a, i), elementAt(b, i)
		var d float64
		switch {
		case math.IsNaN(x) && math.IsNaN(y), x == y:
			d = 0
		case math.IsNaN(x) || math.IsNaN(y):
			d = math.Inf(1)
		default:
			d = math.Abs(x - y)
		}
		maxDelta = max(maxDelta, d)
	}
	return maxDelta, true
}

// elementAt returns element i of a numeric tensor as a float64. Int64 and UInt64 values
// beyond 2^53 lose precision.
func elementAt(t *mindspore.Tensor, i int) float64 {
	d := t.Data
	switch t.DType {
	case "Float16":
		return float64(tensor.Float16ToFloat32(binary.LittleEndian.Uint16(d[2*i:])))
	case "BFloat16":
		return float64(tensor.BFloat16ToFloat32(binary.LittleEndian.Uint16(d[2*i:])))
	case "Float32":
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:])))
	case "Float64":
		return math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:]))
	case "Int8":
		return float64(int8(d[i]))
	case "UInt8", "Bool":
		return float64(d[i])
	case "Int16":
		return float64(int16(binary.LittleEndian.Uint16(d[2*i:])))
	case "UInt16":
		return float64(binary.LittleEndian.Uint16(d[2*i:]))
	case "Int32":
		return float64(int32(binary.LittleEndian.Uint32(d[4*i:])))
	case "UInt32":
		return float64(binary.LittleEndian.Uint32(d[4*i:]))
	case "Int64":
		return float64(int64(binary.LittleEndian.Uint64(d[8*i:])))
	case "UInt64":
		return float64(binary.LittleEndian.Uint64(d[8*i:]))
	}
	panic("ckpt: elementAt called with tensor_type " + t.DType)
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
