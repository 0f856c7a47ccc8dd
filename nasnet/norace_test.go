//go:build !race

package nasnet

// raceEnabled is set when the race detector is on, which makes sync.Pool drop items at random.
const raceEnabled = false
