package pretrained

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/backend/cpu"
	"github.com/renasgo/renas/internal/datatest"
	"github.com/renasgo/renas/nasnet"
	"github.com/renasgo/renas/nasnet/cifar10"
	"github.com/renasgo/renas/nn"
)

func TestNetworkLoads(t *testing.T) {
	net, err := Network()
	require.NoError(t, err)
	assert.Equal(t, Model.Width, net.Width)
	assert.Equal(t, 281_194, nn.CountTrainable(net.Params()))
	assert.Equal(t, int64(124_748_096), net.MACs())
}

// TestTop1MatchesCard evaluates the embedded model on the first 1,000 test images: its top-1
// must lie within 3 points of the card's figure for all 10,000.
func TestTop1MatchesCard(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: evaluates 1,000 images")
	}
	set, err := cifar10.LoadTest(datatest.CIFAR10Archive(t))
	require.NoError(t, err)
	net, err := Network()
	require.NoError(t, err)
	be, err := cpu.New(0)
	require.NoError(t, err)
	defer be.Close()
	inf, err := nasnet.NewInference(be, net)
	require.NoError(t, err)
	res, err := nasnet.Evaluate(inf, set, nasnet.EvalOptions{BatchSize: 100, Limit: 1000})
	require.NoError(t, err)
	assert.Equal(t, 1000, res.Images)
	assert.LessOrEqual(t, math.Abs(res.Top1-Model.Top1), 0.03, "top-1 %.4f", res.Top1)
}
