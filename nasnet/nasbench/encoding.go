package nasbench

import (
	"errors"
	"fmt"
	"math"
)

// EncodingCells is the number of network cells that an Encoding describes, and
// EncodingChannels its channel count: the type matrix, then a FLOPs matrix per cell, then a
// parameter matrix per cell.
const (
	EncodingCells    = 9
	EncodingChannels = 1 + 2*EncodingCells
)

// Scales of the FLOPs and parameter channels.
const (
	FLOPsScale  = 1e7
	ParamsScale = 1e5
)

// Type codes of the ReNAS encoding; a padding vertex is 0.
const (
	TypeInput     = 1
	TypeConv1x1   = 2
	TypeConv3x3   = 3
	TypeMaxPool   = 4
	TypeOutput    = 5
	typeNoVertex  = 0
	outputSlot    = MaxVertices - 1
	flopsChannel0 = 1
	paramChannel0 = 1 + EncodingCells
)

// Encoding is the ReNAS (arXiv:1910.01523) feature tensor of a cell, channel × row × column.
// Every channel is a per-vertex vector v spread over the adjacency matrix A, entry (i, j) =
// A[i][j]·v[j]:
//
//	channel 0       type code of the vertex (TypeInput … TypeOutput)
//	channels 1–9    FLOPs of the vertex in network cell 1–9, divided by FLOPsScale
//	channels 10–18  parameters of the vertex in network cell 1–9, divided by ParamsScale
//
// The vertex costs are those of CellCost.Vertices. A cell with fewer than 7 vertices keeps
// its vertices in order and moves the output to index 6, so the rows and columns between the
// last interior vertex and the output are zero.
type Encoding [EncodingChannels][MaxVertices][MaxVertices]float32

func typeCode(op Op) float32 {
	switch op {
	case OpInput:
		return TypeInput
	case OpConv1x1:
		return TypeConv1x1
	case OpConv3x3:
		return TypeConv3x3
	case OpMaxPool3x3:
		return TypeMaxPool
	case OpOutput:
		return TypeOutput
	}
	return typeNoVertex
}

// Encode returns the ReNAS encoding of the cell in the network, which must have
// EncodingCells cells.
func (nw Network) Encode(s Spec) (Encoding, error) {
	var e Encoding
	if nw.NumCells() != EncodingCells {
		return e, fmt.Errorf("nasbench: the encoding describes %d cells, the network has %d",
			EncodingCells, nw.NumCells())
	}
	if s.n < 2 {
		return e, errors.New("nasbench: cannot encode the zero Spec")
	}
	cost, err := nw.Cost(s)
	if err != nil {
		return e, err
	}
	slot := func(v int) int {
		if v == s.n-1 {
			return outputSlot
		}
		return v
	}
	for i := 0; i < s.n; i++ {
		for j := i + 1; j < s.n; j++ {
			if !s.Edge(i, j) {
				continue
			}
			r, c := slot(i), slot(j)
			e[0][r][c] = typeCode(s.ops[j])
			for k, cc := range cost.Cells {
				e[flopsChannel0+k][r][c] = float32(float64(cc.Vertices[j].FLOPs) / FLOPsScale)
				e[paramChannel0+k][r][c] = float32(float64(cc.Vertices[j].Params) / ParamsScale)
			}
		}
	}
	return e, nil
}

// Standardizer centres and scales every entry of an Encoding by the mean and standard
// deviation of that entry over a training set. Entries are standardised one by one, not per
// channel, because each position has a fixed meaning (a channel and a vertex pair) and most
// positions of a channel are zero padding that would swamp a per-channel statistic.
type Standardizer struct {
	Mean Encoding
	// Std is the population standard deviation of each entry, or 1 for an entry that is
	// constant over the training set, which then maps to 0.
	Std Encoding
}

// FitStandardizer computes the statistics of the training encodings.
func FitStandardizer(train []Encoding) (*Standardizer, error) {
	if len(train) == 0 {
		return nil, errors.New("nasbench: cannot fit a standardizer to an empty training set")
	}
	z := &Standardizer{}
	count := float64(len(train))
	for c := range z.Mean {
		for i := range z.Mean[c] {
			for j := range z.Mean[c][i] {
				z.Mean[c][i][j], z.Std[c][i][j] = entryStats(train, c, i, j, count)
			}
		}
	}
	return z, nil
}

// entryStats returns the mean and standard deviation of one entry in two passes. A constant
// entry gets its value as the mean and 1 as the deviation, so that it maps to exactly 0.
func entryStats(train []Encoding, c, i, j int, count float64) (mean, std float32) {
	first := train[0][c][i][j]
	constant := true
	var sum float64
	for t := range train {
		x := train[t][c][i][j]
		constant = constant && x == first
		sum += float64(x)
	}
	if constant {
		return first, 1
	}
	m := sum / count
	var squares float64
	for t := range train {
		d := float64(train[t][c][i][j]) - m
		squares += d * d
	}
	return float32(m), float32(math.Sqrt(squares / count))
}

// Apply returns the standardised encoding (e − Mean) / Std.
func (z *Standardizer) Apply(e Encoding) Encoding {
	var out Encoding
	for c := range e {
		for i := range e[c] {
			for j := range e[c][i] {
				out[c][i][j] = (e[c][i][j] - z.Mean[c][i][j]) / z.Std[c][i][j]
			}
		}
	}
	return out
}

// Floats returns the encoding as a flat slice in channel, row, column order, the layout of a
// [19, 7, 7] tensor.
func (e *Encoding) Floats() []float32 {
	out := make([]float32, 0, EncodingChannels*MaxVertices*MaxVertices)
	for c := range e {
		for i := range e[c] {
			out = append(out, e[c][i][:]...)
		}
	}
	return out
}
