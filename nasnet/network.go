// Package nasnet implements the CIFAR-10 network that ReNAS (relativistic neural architecture
// search, arXiv:1910.01523) found in the NAS-Bench-101 space, on the engine's backends.
//
// The network is a stem convolution, three stacks of three cells with 2×2 max pooling
// between the stacks, and a classifier head. Every cell computes, from its input x with C
// channels:
//
//	o1  = concat(proj1(maxpool3x3(x)), proj2(x))
//	o2  = cbr1(o1)
//	o2' = concat(proj3(o2), proj4(x))
//	o3  = cbr2(o2')
//	o4  = cbr3(x)
//	out = concat(proj5(o3), proj6(o4))
//
// where cbrK is a 3×3 convolution C→C with batch normalization and ReLU, and projK is a 1×1
// convolution C→C/2 with batch normalization and ReLU.
package nasnet

import (
	"fmt"
	"math/rand/v2"

	"github.com/renasgo/renas/nasnet/nasbench"
	"github.com/renasgo/renas/nn"
)

// DefaultWidth is the channel count of the published network.
const DefaultWidth = 128

// MaxWidth is the largest width that New accepts. NAS-Bench-101 networks have at most 512
// channels, and a width-1024 network already has about 280 M parameters.
const MaxWidth = 1024

// NumClasses is the number of CIFAR-10 classes.
const NumClasses = 10

// Cell is one cell of the network. CBR[k] and CBRNorm[k] form cbr(k+1); Proj[k] and
// ProjNorm[k] form proj(k+1).
type Cell struct {
	CBR      [3]*nn.Conv2d
	CBRNorm  [3]*nn.BatchNorm2d
	Proj     [6]*nn.Conv2d
	ProjNorm [6]*nn.BatchNorm2d
}

// Network is a CIFAR-10 network with its parameters: the ReNAS network, whose cells are
// Blocks, or, when Cell is set, the NAS-Bench-101 network built around that cell, whose
// cells are Modules. Both start with the stem Conv1 and BN1 of Width channels and end with
// global average pooling and Head.
type Network struct {
	Width   int
	Conv1   *nn.Conv2d
	BN1     *nn.BatchNorm2d
	Blocks  [3][3]*Cell
	Cell    *nasbench.Spec
	Modules [3][3]*Module
	Head    *nn.Linear
}

// New returns a network of the given width with weights drawn from a generator seeded with
// seed, and identity batch normalization. The width must be even and positive.
func New(width int, seed uint64) (*Network, error) {
	if width <= 0 || width%2 != 0 || width > MaxWidth {
		return nil, fmt.Errorf("nasnet: width must be a positive even number up to %d, got %d",
			MaxWidth, width)
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	net := &Network{
		Width: width,
		Conv1: nn.NewConv2d(r, 3, width, 3, 1, 1, false),
		BN1:   nn.NewBatchNorm2d(width),
		Head:  nn.NewLinear(r, width, NumClasses),
	}
	for s := range net.Blocks {
		for i := range net.Blocks[s] {
			c := &Cell{}
			for k := range c.CBR {
				c.CBR[k] = nn.NewConv2d(r, width, width, 3, 1, 1, false)
				c.CBRNorm[k] = nn.NewBatchNorm2d(width)
			}
			for k := range c.Proj {
				c.Proj[k] = nn.NewConv2d(r, width, width/2, 1, 1, 0, false)
				c.ProjNorm[k] = nn.NewBatchNorm2d(width / 2)
			}
			net.Blocks[s][i] = c
		}
	}
	return net, nil
}

// Params returns every parameter with its MindSpore name, in a fixed order: the stem, the
// cells stack by stack, then the head. The modules of a NAS-Bench-101 network are named
// stackS.moduleI.vertex_V (and .output) after NAS-Bench-101's scopes.
func (net *Network) Params() []nn.Param {
	ps := append(net.Conv1.Params("conv1"), net.BN1.Params("bn1")...)
	if net.Cell != nil {
		for s := range net.Modules {
			for i, m := range net.Modules[s] {
				ps = append(ps, m.params(fmt.Sprintf("stack%d.module%d.", s, i))...)
			}
		}
		return append(ps, net.Head.Params("linear")...)
	}
	for s := range net.Blocks {
		for i, c := range net.Blocks[s] {
			prefix := fmt.Sprintf("block%d.%d.", s+1, i)
			for k := range c.CBR {
				ps = append(ps, c.CBR[k].Params(fmt.Sprintf("%sconv3x3_%d", prefix, k+1))...)
				ps = append(ps, c.CBRNorm[k].Params(fmt.Sprintf("%sbn3x3_%d", prefix, k+1))...)
			}
			for k := range c.Proj {
				ps = append(ps, c.Proj[k].Params(fmt.Sprintf("%sproj%d", prefix, k+1))...)
				ps = append(ps, c.ProjNorm[k].Params(fmt.Sprintf("%sbn%d", prefix, k+1))...)
			}
		}
	}
	return append(ps, net.Head.Params("linear")...)
}

// MACs returns the multiply-accumulate count of one forward pass on a 32×32 image: the
// convolutions and the dense layer (pooling and batch normalization are not counted).
func (net *Network) MACs() int64 {
	c := int64(net.Width)
	total := int64(32*32) * 3 * 9 * c
	if net.Cell != nil {
		for s, side := range []int{32, 16, 8} {
			for _, m := range net.Modules[s] {
				total += m.macs(side)
			}
		}
		head := net.Head.Weight.Shape()
		return total + int64(head[0]*head[1])
	}
	for _, side := range []int64{32, 16, 8} {
		px := side * side
		perCell := 3*px*c*c*9 + 6*px*c*(c/2)
		total += 3 * perCell
	}
	return total + c*NumClasses
}
