// Package pretrained embeds the default trained ReNAS network, which eval runs when it is
// given no checkpoint.
package pretrained

import (
	"bytes"
	_ "embed"

	"github.com/renasgo/renas/nasnet"
)

//go:embed renas-w32.safetensors
var weights []byte

// Card describes the embedded model: how it was trained and what it scores.
type Card struct {
	Width int
	// Epochs is the number of passes over the training set, summed over the runs.
	Epochs int
	// TrainingSeconds is the wall time of those epochs on the 2-core development machines,
	// which other work shared.
	TrainingSeconds float64
	// Top1 and Top5 are the accuracies on all 10,000 CIFAR-10 test images, in fp32.
	Top1, Top5 float64
	// Commands are the training runs in order. A run stopped early names the epoch whose
	// weights the next run starts from with --checkpoint.
	Commands []string
}

// Model is the card of the embedded model.
var Model = Card{
	Width:           32,
	Epochs:          43,
	TrainingSeconds: 23944,
	Top1:            0.8519,
	Top5:            0.9927,
	Commands: []string{
		"go run ./nasnet/cmd/train --width 32 --epochs 30 --warmup-epochs 1 --lr 0.1 " +
			"--batch-size 128 --seed 1 --out w32-e30.safetensors (stopped after epoch 6: " +
			"w32-e6.safetensors)",
		"go run ./nasnet/cmd/train --width 32 --checkpoint w32-e6.safetensors --epochs 20 " +
			"--lr 0.1 --batch-size 128 --seed 2 --out w32-ft.safetensors (stopped after " +
			"epoch 5: w32-ft-e5.weights.safetensors)",
		"go run ./nasnet/cmd/train --width 32 --checkpoint w32-ft-e5.weights.safetensors " +
			"--epochs 12 --lr 0.08 --batch-size 128 --seed 3 --out w32-r3.safetensors",
		"go run ./nasnet/cmd/train --width 32 --checkpoint w32-r3.weights.safetensors " +
			"--epochs 20 --lr 0.08 --batch-size 128 --seed 4 --out w32-r4.safetensors",
	},
}

// Network returns a new copy of the embedded network.
func Network() (*nasnet.Network, error) {
	return nasnet.ReadCheckpoint("embedded model", bytes.NewReader(weights),
		int64(len(weights)), Model.Width)
}
