package nasbench

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Hash returns NAS-Bench-101's graph fingerprint of the cell as 32 lowercase hex digits:
// the key that the NAS-Bench-101 dataset stores for it. Isomorphic cells get the same hash.
//
// The recipe is hash_module in NAS-Bench-101's nasbench/lib/graph_util.py, with labels -1
// for the input, -2 for the output and 0, 1, 2 for conv3x3-bn-relu, conv1x1-bn-relu and
// maxpool3x3:
//
//	h[v] = md5("(OUT, IN, LABEL)")  with v's out-degree, in-degree and label
//	repeat NumVertices times, all vertices from the previous round's values:
//	    h[v] = md5(sorted in-neighbour hashes joined + "|" +
//	               sorted out-neighbour hashes joined + "|" + h[v])
//	hash = md5("['h1', 'h2', ...]")  over the sorted h, as Python prints a list of strings
//
// Every MD5 is of UTF-8 text and is carried as lowercase hex.
func (s Spec) Hash() string {
	sum := s.hashSum()
	return hex.EncodeToString(sum[:])
}

// hashSum computes Hash without converting to text between rounds. Raw digests sort in
// the same order as their lowercase hex, so sorting them first gives the same joins.
func (s Spec) hashSum() [16]byte {
	n := s.n
	var hashes, next [MaxVertices][md5.Size]byte
	buf := make([]byte, 0, 2*MaxVertices*2*md5.Size+2*md5.Size+2)
	for v := 0; v < n; v++ {
		buf = fmt.Appendf(buf[:0], "(%d, %d, %d)", s.outDegree(v), s.inDegree(v),
			int(s.ops[v]))
		hashes[v] = md5.Sum(buf)
	}

	var in, out [MaxVertices][md5.Size]byte
	for range n {
		for v := 0; v < n; v++ {
			nIn, nOut := 0, 0
			for u := 0; u < n; u++ {
				if s.out[u]&(1<<v) != 0 {
					in[nIn] = hashes[u]
					nIn++
				}
				if s.out[v]&(1<<u) != 0 {
					out[nOut] = hashes[u]
					nOut++
				}
			}
			buf = appendSortedHex(buf[:0], in[:nIn])
			buf = append(buf, '|')
			buf = appendSortedHex(buf, out[:nOut])
			buf = append(buf, '|')
			buf = hex.AppendEncode(buf, hashes[v][:])
			next[v] = md5.Sum(buf)
		}
		hashes = next
	}

	sorted := hashes[:n]
	slices.SortFunc(sorted, compareDigests)
	buf = append(buf[:0], '[')
	for i := range sorted {
		if i > 0 {
			buf = append(buf, ", "...)
		}
		buf = append(buf, '\'')
		buf = hex.AppendEncode(buf, sorted[i][:])
		buf = append(buf, '\'')
	}
	buf = append(buf, ']')
	return md5.Sum(buf)
}

func compareDigests(a, b [md5.Size]byte) int { return bytes.Compare(a[:], b[:]) }

// appendSortedHex sorts the digests in place and appends their hex forms, joined.
func appendSortedHex(buf []byte, digests [][md5.Size]byte) []byte {
	slices.SortFunc(digests, compareDigests)
	for i := range digests {
		buf = hex.AppendEncode(buf, digests[i][:])
	}
	return buf
}

func (s Spec) outDegree(v int) int {
	d := 0
	for j := v + 1; j < s.n; j++ {
		if s.out[v]&(1<<j) != 0 {
			d++
		}
	}
	return d
}

// parseHash decodes a 32-hex-digit hash.
func parseHash(text string) ([16]byte, error) {
	var sum [16]byte
	if len(text) != 32 {
		return sum, fmt.Errorf("hash %q has %d characters, expected 32 hex digits", text,
			len(text))
	}
	if _, err := hex.Decode(sum[:], []byte(text)); err != nil {
		return sum, fmt.Errorf("hash %q is not hex: %v", text, err)
	}
	if strings.ToLower(text) != text {
		return sum, fmt.Errorf("hash %q has uppercase digits, expected lowercase", text)
	}
	return sum, nil
}
