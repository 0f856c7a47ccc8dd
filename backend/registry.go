package backend

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Options configure a backend when it is opened.
type Options struct {
	// Threads is the number of worker threads of a CPU backend, at most MaxThreads; 0 means
	// GOMAXPROCS.
	Threads int
	// DeviceID selects the accelerator of a GPU or Ascend backend.
	DeviceID int
	// DirectConv computes every convolution as a direct product, without the Winograd
	// transform of the 3×3 ones. Winograd's float32 rounding error is several times larger,
	// so reference comparisons use this; it is slower.
	DirectConv bool
	// BF16 runs the convolutions of inference on bfloat16 inputs with float32 sums. Open
	// fails with ErrNoBF16 on a device without bf16 kernels.
	BF16 bool
}

// MaxThreads is the largest Options.Threads. Each worker keeps its own workspaces, so a
// count far above the cores only costs memory.
const MaxThreads = 1024

// Factory opens a backend.
type Factory func(Options) (Backend, error)

var (
	registryMu sync.Mutex
	registry   = map[string]Factory{}
)

// knownPlatforms are the names that Open accepts even when no implementation is registered.
var knownPlatforms = []string{PlatformCPU, PlatformGPU, PlatformAscend}

// Register makes a backend available under a platform name. Implementations call it from
// an init function; it panics if the name is registered twice.
func Register(platform string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[platform]; dup {
		panic("backend: Register called twice for platform " + platform)
	}
	registry[platform] = f
}

// Open returns a new backend for the platform. A known platform without an implementation in
// this build gives ErrNotAvailable, and any other name ErrUnknownPlatform.
func Open(platform string, opt Options) (Backend, error) {
	registryMu.Lock()
	f, ok := registry[platform]
	registryMu.Unlock()
	if ok {
		return f(opt)
	}
	if slices.Contains(knownPlatforms, platform) {
		return nil, fmt.Errorf("%s %w (this build has %s)", platform, ErrNotAvailable,
			strings.Join(Available(), ", "))
	}
	return nil, fmt.Errorf("%w %q (known platforms: CPU, GPU, Ascend)", ErrUnknownPlatform,
		platform)
}

// Available returns the platform names that Open can open in this build, sorted.
func Available() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
