//go:build race

package kernels

// raceEnabled is set when the race detector is on, which makes sync.Pool drop items at random.
const raceEnabled = true
