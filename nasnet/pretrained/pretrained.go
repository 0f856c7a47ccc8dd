// Package pretrained embeds the default trained ReNAS network, which eval runs when it is
// given no checkpoint, no cell and no other width.
package pretrained

import (
	"bytes"
	_ "embed"

	"github.com/renasgo/renas/nasnet"
)

//go:embed renas-w64.safetensors
var weights []byte

// Card describes the embedded model: how it was trained and what it scores.
type Card struct {
	// Width is the number of channels of the stem convolution.
	Width int
	// Epochs is the number of passes over the training set, summed over the runs.
	Epochs int
	// TrainingSeconds is the wall time of those epochs on the 2-core development machines,
	// which other work shared.
	TrainingSeconds float64
	// Top1 and Top5 are the accuracies on all 10,000 CIFAR-10 test images, in fp32.
	Top1, Top5 float64
	// FlipTop1 is the top-1 accuracy on the same images with each image scored together
	// with its mirror image, as eval --flip does.
	FlipTop1 float64
	// Commands are the training runs in order. A run stopped early names the epoch whose
	// weights the next run starts from with --checkpoint.
	Commands []string
}

// Model is the card of the embedded model.
var Model = Card{
	Width:           64,
	Epochs:          100,
	TrainingSeconds: 66456,
	Top1:            0.9035,
	Top5:            0.9957,
	FlipTop1:        0.9115,
	Commands: []string{
		"go run ./nasnet/cmd/train --width 64 --epochs 50 --warmup-epochs 1 --lr 0.1 " +
			"--batch-size 128 --seed 6 --out w64-r6.safetensors",
		"go run ./nasnet/cmd/train --width 64 --checkpoint w64-r6.safetensors --epochs 30 " +
			"--warmup-epochs 1 --lr 0.05 --batch-size 128 --seed 7 --cutout 16 " +
			"--out w64-r7.safetensors",
		"go run ./nasnet/cmd/train --width 64 --checkpoint w64-r7.safetensors --epochs 20 " +
			"--warmup-epochs 1 --lr 0.02 --batch-size 128 --seed 8 --cutout 16 " +
			"--out w64-r8.safetensors",
	},
}

// Network returns a new copy of the embedded network.
func Network() (*nasnet.Network, error) {
	return nasnet.ReadCheckpoint("embedded model", bytes.NewReader(weights),
		int64(len(weights)), Model.Width)
}
