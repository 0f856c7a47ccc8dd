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
	// Epochs is the number of completed epochs, of PlannedEpochs in the run.
	Epochs, PlannedEpochs int
	// TrainingSeconds is the wall time of those epochs on the 2-core development machine,
	// which other work shared.
	TrainingSeconds float64
	// Top1 and Top5 are the accuracies on all 10,000 CIFAR-10 test images, in fp32.
	Top1, Top5 float64
	// Command is the command that trained it.
	Command string
}

// Model is the card of the embedded model.
//
// NOTE: the run that produces the default model is still training. These weights are its
// checkpoint after 6 of 30 epochs, so the card changes with them.
var Model = Card{
	Width:           32,
	Epochs:          6,
	PlannedEpochs:   30,
	TrainingSeconds: 9749,
	Top1:            0.6463,
	Top5:            0.9674,
	Command: "go run ./nasnet/cmd/train --width 32 --epochs 30 --warmup-epochs 1 " +
		"--lr 0.1 --batch-size 128 --seed 1 --out w32-e30.safetensors",
}

// Network returns a new copy of the embedded network.
func Network() (*nasnet.Network, error) {
	return nasnet.ReadCheckpoint("embedded model", bytes.NewReader(weights),
		int64(len(weights)), Model.Width)
}
