package nasbench

import "fmt"

// Network is the shape of the NAS-Bench-101 network around a cell. A stem 3×3 convolution
// with batch normalization and ReLU is followed by Stacks stacks of CellsPerStack cells. A
// 2×2 max pool with stride 2 comes before every stack but the first, and that stack doubles
// the channels. Global average pooling and a dense layer end the network.
type Network struct {
	ImageSize     int // side of the square input image
	InputChannels int
	StemChannels  int // channels of the stem and of the first stack
	Stacks        int
	CellsPerStack int
	NumClasses    int
}

// DefaultNetwork is the network that NAS-Bench-101 trained on CIFAR-10.
var DefaultNetwork = Network{ImageSize: 32, InputChannels: 3, StemChannels: 128, Stacks: 3,
	CellsPerStack: 3, NumClasses: 10}

// NumCells returns the number of cells in the network.
func (nw Network) NumCells() int { return nw.Stacks * nw.CellsPerStack }

// Cost is the trainable parameter count and the FLOPs of a part of the network for one
// input image.
//
// Parameters are convolution weights (no bias), batch normalization gamma and beta, and the
// dense weights and bias. FLOPs are counted as follows, which reproduces 2,527,684,618 for
// NAS-Bench-101's cell 00005c142e6f48ac74fdcf73e3439874:
//
//	convolution k×k, Cin→Cout, H×W output   2·k·k·Cin·Cout·H·W (batch normalization and
//	                                        ReLU are not counted)
//	max pool with a k×k window               k·k per output element (9 for the 3×3 op,
//	                                        4 for the 2×2 downsampling)
//	sum of m tensors of C×H×W                (m−1)·C·H·W
//	global average pool over C×H×W           C·H·W
//	dense layer Cin→Cout                     2·Cin·Cout + Cout
//	channel truncation and concatenation     0
type Cost struct {
	Params int64
	FLOPs  int64
}

func (c *Cost) add(o Cost) {
	c.Params += o.Params
	c.FLOPs += o.FLOPs
}

// CellCost is the cost of one cell of the network, split by vertex.
type CellCost struct {
	InChannels, OutChannels int
	Size                    int // side of the cell's square feature maps
	// VertexChannels is NAS-Bench-101's compute_vertex_channels for the cell.
	VertexChannels []int
	// Vertices[v] is the cost of vertex v. An interior vertex counts its op, the sum of its
	// inputs, and the 1×1 projection of the cell input when the input feeds it. When the
	// input feeds the output, the output vertex counts that projection and its addition.
	// The input vertex costs nothing.
	Vertices []Cost
	Total    Cost
}

// NetworkCost is the cost of the whole network for a cell.
type NetworkCost struct {
	Stem  Cost       // stem convolution and batch normalization
	Cells []CellCost // stack by stack
	Pools Cost       // the downsampling max pools
	Head  Cost       // global average pool and dense layer
	Total Cost
}

// Cost counts the parameters and FLOPs of the network built from the cell, following
// build_module in NAS-Bench-101's nasbench/lib/model_builder.py. It returns an error if the
// network shape is invalid.
func (nw Network) Cost(s Spec) (*NetworkCost, error) {
	if err := nw.check(); err != nil {
		return nil, err
	}
	size := nw.ImageSize
	channels := nw.StemChannels
	nc := &NetworkCost{Stem: convBN(3, nw.InputChannels, channels, size)}
	inChannels := channels
	for stack := range nw.Stacks {
		if stack > 0 {
			size /= 2
			nc.Pools.FLOPs += 4 * int64(inChannels) * int64(size*size)
			channels *= 2
		}
		for range nw.CellsPerStack {
			cc := cellCost(s, inChannels, channels, size)
			nc.Cells = append(nc.Cells, cc)
			inChannels = channels
		}
	}
	nc.Head.FLOPs = int64(channels) * int64(size*size)
	dense := int64(channels) * int64(nw.NumClasses)
	nc.Head.Params = dense + int64(nw.NumClasses)
	nc.Head.FLOPs += 2*dense + int64(nw.NumClasses)

	nc.Total = nc.Stem
	for _, cc := range nc.Cells {
		nc.Total.add(cc.Total)
	}
	nc.Total.add(nc.Pools)
	nc.Total.add(nc.Head)
	return nc, nil
}

func (nw Network) check() error {
	switch {
	case nw.ImageSize <= 0, nw.InputChannels <= 0, nw.StemChannels <= 0, nw.Stacks <= 0,
		nw.CellsPerStack <= 0, nw.NumClasses <= 0:
		return fmt.Errorf("nasbench: every field of Network must be positive, got %+v", nw)
	case nw.ImageSize%(1<<(nw.Stacks-1)) != 0:
		return fmt.Errorf("nasbench: image size %d is not divisible by 2^%d for %d stacks",
			nw.ImageSize, nw.Stacks-1, nw.Stacks)
	}
	return nil
}

// convBN is a k×k convolution without bias, stride 1 and same padding, with batch
// normalization, on size×size maps.
func convBN(k, in, out, size int) Cost {
	weights := int64(k * k * in * out)
	return Cost{Params: weights + 2*int64(out), FLOPs: 2 * weights * int64(size*size)}
}

func cellCost(s Spec, in, out, size int) CellCost {
	n := s.n
	last := n - 1
	pixels := int64(size * size)
	cc := CellCost{InChannels: in, OutChannels: out, Size: size,
		VertexChannels: s.VertexChannels(in, out), Vertices: make([]Cost, n)}
	for v := 1; v < last; v++ {
		c := cc.VertexChannels[v]
		var vc Cost
		if s.Edge(0, v) {
			vc.add(convBN(1, in, c, size))
		}
		vc.FLOPs += int64(s.inDegree(v)-1) * int64(c) * pixels
		switch s.ops[v] {
		case OpConv3x3:
			vc.add(convBN(3, c, c, size))
		case OpConv1x1:
			vc.add(convBN(1, c, c, size))
		case OpMaxPool3x3:
			vc.FLOPs += 9 * int64(c) * pixels
		}
		cc.Vertices[v] = vc
	}
	if s.Edge(0, last) {
		vc := convBN(1, in, out, size)
		if s.inDegree(last) > 1 {
			vc.FLOPs += int64(out) * pixels
		}
		cc.Vertices[last] = vc
	}
	for _, vc := range cc.Vertices {
		cc.Total.add(vc)
	}
	return cc
}

// VertexChannels returns the channel count of every vertex of a cell that maps in channels to
// out, as NAS-Bench-101's compute_vertex_channels does: the output channels are split evenly
// across the interior vertices that feed the output, the first ones taking one more for the
// remainder, and every other interior vertex takes the max of its interior successors.
func (s Spec) VertexChannels(in, out int) []int {
	n := s.n
	last := n - 1
	channels := make([]int, n)
	channels[0] = in
	channels[last] = out
	if n == 2 {
		return channels
	}

	feeders := 0
	for v := 1; v < last; v++ {
		if s.Edge(v, last) {
			feeders++
		}
	}
	// A pruned cell with interior vertices has at least one that feeds the output.
	share, remainder := out/feeders, out%feeders
	for v := 1; v < last; v++ {
		if s.Edge(v, last) {
			channels[v] = share
			if remainder > 0 {
				channels[v]++
				remainder--
			}
		}
	}

	for v := last - 2; v > 0; v-- {
		if s.Edge(v, last) {
			continue
		}
		for dst := v + 1; dst < last; dst++ {
			if s.Edge(v, dst) {
				channels[v] = max(channels[v], channels[dst])
			}
		}
	}
	return channels
}
