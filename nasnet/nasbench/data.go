package nasbench

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
)

// Record is one architecture of a NAS-Bench-101 record file.
type Record struct {
	Hash string
	// Spec is the cell, or nil in a file without adjacency and operations.
	Spec *Spec
	// ValidationAccuracy is the CIFAR-10 validation accuracy (a fraction) after 4, 12, 36
	// and 108 training epochs, from a single training run.
	ValidationAccuracy  [4]float64
	TrainableParameters int64
	TrainingTime        float64 // seconds
}

// AccuracyEpochs are the epoch counts of Record.ValidationAccuracy.
var AccuracyEpochs = [4]int{4, 12, 36, 108}

// padOp is the op code of a padding vertex in the record files.
const padOp = -3

// LoadRecords reads a record file: one JSON object of parallel lists, with the keys key,
// 4_final_validation_accuracy … 108_final_validation_accuracy, trainable_parameters and
// final_training_time, and optionally adjacency and operations together. Other keys are
// ignored. Lists of different lengths, a missing key, a bad hash and a cell outside the
// space are errors that name the file and the key.
func LoadRecords(path string) ([]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	records, err := ParseRecords(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return records, nil
}

// ParseRecords reads the contents of a record file as LoadRecords does.
func ParseRecords(data []byte) ([]Record, error) {
	var columns map[string]json.RawMessage
	if err := json.Unmarshal(data, &columns); err != nil {
		return nil, fmt.Errorf("expected a JSON object of lists: %w", err)
	}
	var hashes []string
	var accuracy [4][]float64
	var params []int64
	var times []float64
	var adjacency [][][]float64
	var operations [][]int
	fields := []struct {
		key      string
		target   any
		optional bool
	}{
		{"key", &hashes, false},
		{"4_final_validation_accuracy", &accuracy[0], false},
		{"12_final_validation_accuracy", &accuracy[1], false},
		{"36_final_validation_accuracy", &accuracy[2], false},
		{"108_final_validation_accuracy", &accuracy[3], false},
		{"trainable_parameters", &params, false},
		{"final_training_time", &times, false},
		{"adjacency", &adjacency, true},
		{"operations", &operations, true},
	}
	lengths := map[string]int{}
	for _, f := range fields {
		raw, ok := columns[f.key]
		if !ok {
			if f.optional {
				continue
			}
			return nil, fmt.Errorf("%s: missing", f.key)
		}
		if err := json.Unmarshal(raw, f.target); err != nil {
			return nil, fmt.Errorf("%s: %w", f.key, describeJSONError(err))
		}
		lengths[f.key] = listLength(f.target)
	}
	if err := checkLengths(lengths); err != nil {
		return nil, err
	}
	_, hasAdjacency := columns["adjacency"]
	_, hasOperations := columns["operations"]
	if hasAdjacency != hasOperations {
		missing := "operations"
		if !hasAdjacency {
			missing = "adjacency"
		}
		return nil, fmt.Errorf("%s: missing, but the file has the other half of the cell "+
			"specs", missing)
	}

	records := make([]Record, len(hashes))
	first := make(map[string]int, len(hashes))
	for i := range records {
		r := &records[i]
		if _, err := parseHash(hashes[i]); err != nil {
			return nil, fmt.Errorf("key[%d]: %v", i, err)
		}
		if j, seen := first[hashes[i]]; seen {
			return nil, fmt.Errorf("key[%d]: %s repeats key[%d]", i, hashes[i], j)
		}
		first[hashes[i]] = i
		r.Hash = hashes[i]
		for e := range accuracy {
			a := accuracy[e][i]
			if !(a >= 0 && a <= 1) {
				return nil, fmt.Errorf("%d_final_validation_accuracy[%d]: %v is outside [0, 1]",
					AccuracyEpochs[e], i, a)
			}
			r.ValidationAccuracy[e] = a
		}
		r.TrainableParameters = params[i]
		r.TrainingTime = times[i]
		if hasAdjacency {
			s, err := recordSpec(adjacency[i], operations[i])
			if err != nil {
				return nil, fmt.Errorf("cell %d (adjacency[%d], operations[%d]): %w", i, i,
					i, err)
			}
			if h := s.Hash(); h != r.Hash {
				return nil, fmt.Errorf("key[%d]: %s is not the hash of cell %d, which is %s",
					i, r.Hash, i, h)
			}
			r.Spec = &s
		}
	}
	return records, nil
}

func listLength(target any) int {
	switch v := target.(type) {
	case *[]string:
		return len(*v)
	case *[]float64:
		return len(*v)
	case *[]int64:
		return len(*v)
	case *[][][]float64:
		return len(*v)
	case *[][]int:
		return len(*v)
	}
	panic(fmt.Sprintf("nasbench: listLength of %T", target))
}

// checkLengths names the first key whose list length differs from that of key.
func checkLengths(lengths map[string]int) error {
	want := lengths["key"]
	keys := make([]string, 0, len(lengths))
	for k := range lengths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if lengths[k] != want {
			return fmt.Errorf("%s: has %d entries, but key has %d; the lists must be "+
				"parallel", k, lengths[k], want)
		}
	}
	return nil
}

func describeJSONError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Errorf("expected a list of %v, found a JSON %s at byte %d", typeErr.Type,
			typeErr.Value, typeErr.Offset)
	}
	return err
}

// recordSpec converts a padded record cell: op codes -1 input, -2 output, 0–2 as Op and -3
// for padding vertices, which must have no edges.
func recordSpec(adjacency [][]float64, operations []int) (Spec, error) {
	if len(adjacency) != len(operations) {
		return Spec{}, specErrorf("operations", "has %d entries but adjacency has %d rows",
			len(operations), len(adjacency))
	}
	matrix, err := intMatrix("adjacency", adjacency)
	if err != nil {
		return Spec{}, err
	}
	var keep []int
	for i, code := range operations {
		switch {
		case code == padOp:
			for j := range matrix {
				if (j < len(matrix[i]) && matrix[i][j] != 0) ||
					(i < len(matrix[j]) && matrix[j][i] != 0) {
					return Spec{}, specErrorf("adjacency", "padding vertex %d has edges", i)
				}
			}
		case code >= int(OpOutput) && code <= int(OpMaxPool3x3):
			keep = append(keep, i)
		default:
			return Spec{}, specErrorf("operations", "vertex %d has op code %d, expected "+
				"-3 to 2", i, code)
		}
	}
	ops := make([]Op, len(keep))
	trimmed := make([][]int, len(keep))
	for a, i := range keep {
		ops[a] = Op(operations[i])
		if len(matrix[i]) != len(matrix) {
			return Spec{}, specErrorf("adjacency", "row %d has %d entries, expected %d", i,
				len(matrix[i]), len(matrix))
		}
		trimmed[a] = make([]int, len(keep))
		for b, j := range keep {
			trimmed[a][b] = matrix[i][j]
		}
	}
	return NewSpec(trimmed, ops)
}
