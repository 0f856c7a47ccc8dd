package mindspore

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/internal/datatest"
	"github.com/renasgo/renas/nn"
)

// The two files are LeNet-5 checkpoints written by MindSpore itself: one from the mindarmour
// repository (2020, Momentum optimizer) and one from the serving repository (MindSpore 1.1.1,
// Momentum with loss scaling). The expected values were read from the files with MindSpore's
// schema, independently of this package.
const (
	mindarmourFile = "mindarmour_checkpoint_lenet-10_1875.ckpt"
	servingFile    = "serving_lenet_ascend_v111_offical_cv_mnist_bs32_acc98.ckpt"
)

type wantEntry struct {
	name  string
	dtype string
	shape []int
}

var lenetWeights = []wantEntry{
	{"conv1.weight", "Float32", []int{6, 1, 5, 5}},
	{"conv2.weight", "Float32", []int{16, 6, 5, 5}},
	{"fc1.weight", "Float32", []int{120, 400}},
	{"fc1.bias", "Float32", []int{120}},
	{"fc2.weight", "Float32", []int{84, 120}},
	{"fc2.bias", "Float32", []int{84}},
	{"fc3.weight", "Float32", []int{10, 84}},
	{"fc3.bias", "Float32", []int{10}},
}

func moments() []wantEntry {
	out := make([]wantEntry, len(lenetWeights))
	for i, e := range lenetWeights {
		out[i] = wantEntry{"moments." + e.name, e.dtype, e.shape}
	}
	return out
}

func readShared(t *testing.T, name string) (string, []*Tensor) {
	t.Helper()
	path := filepath.Join(datatest.MindSporeCheckpoints(t), name)
	ts, err := ReadFile(path)
	require.NoError(t, err)
	return path, ts
}

func checkEntries(t *testing.T, want []wantEntry, got []*Tensor, payload int) {
	t.Helper()
	require.Len(t, got, len(want))
	total := 0
	for i, w := range want {
		assert.Equal(t, w.name, got[i].Name, "entry %d", i)
		assert.Equal(t, w.dtype, got[i].DType, "%s", w.name)
		assert.Equal(t, w.shape, got[i].Shape, "%s", w.name)
		total += len(got[i].Data)
	}
	assert.Equal(t, payload, total, "total tensor payload in bytes")
}

func float32At(t *Tensor, i int) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
}

func byName(ts []*Tensor, name string) *Tensor {
	for _, t := range ts {
		if t.Name == name {
			return t
		}
	}
	return nil
}

func TestMindarmourCheckpoint(t *testing.T) {
	_, ts := readShared(t, mindarmourFile)
	want := append(append([]wantEntry{}, lenetWeights...),
		wantEntry{"learning_rate", "Float64", nil}, wantEntry{"momentum", "Float64", nil})
	checkEntries(t, append(want, moments()...), ts, 493488)

	conv1 := byName(ts, "conv1.weight")
	assert.InDelta(t, -0.10214873, float32At(conv1, 0), 1e-8)
	assert.InDelta(t, -0.07562193, float32At(conv1, 1), 1e-8)
	assert.InDelta(t, 0.04493771, float32At(conv1, 2), 1e-8)
	lr := byName(ts, "learning_rate")
	assert.Equal(t, 0.001, math.Float64frombits(binary.LittleEndian.Uint64(lr.Data)))
	momentum := byName(ts, "momentum")
	assert.Equal(t, 0.9, math.Float64frombits(binary.LittleEndian.Uint64(momentum.Data)))
}

func TestServingCheckpoint(t *testing.T) {
	_, ts := readShared(t, servingFile)
	want := append(append([]wantEntry{}, lenetWeights...),
		wantEntry{"scale_sense", "Float32", nil}, wantEntry{"learning_rate", "Float32", nil},
		wantEntry{"momentum", "Float32", nil})
	want = append(want, moments()...)
	want = append(want, wantEntry{"current_iterator_step", "Int32", nil},
		wantEntry{"last_overflow_iterator_step", "Int32", nil})
	checkEntries(t, want, ts, 493492)

	conv1 := byName(ts, "conv1.weight")
	assert.InDelta(t, -0.03500148, float32At(conv1, 0), 1e-8)
	assert.InDelta(t, 0.02577182, float32At(conv1, 1), 1e-8)
	assert.InDelta(t, -0.26728013, float32At(conv1, 2), 1e-8)
	assert.Equal(t, float32(1048576), float32At(byName(ts, "scale_sense"), 0))
	assert.Equal(t, float32(0.01), float32At(byName(ts, "learning_rate"), 0))
	assert.Equal(t, float32(0.9), float32At(byName(ts, "momentum"), 0))
	int32Of := func(name string) int32 {
		return int32(binary.LittleEndian.Uint32(byName(ts, name).Data))
	}
	assert.Equal(t, int32(18751), int32Of("current_iterator_step"))
	assert.Equal(t, int32(17072), int32Of("last_overflow_iterator_step"))
}

func TestSharedCheckpointsHaveNoTrailer(t *testing.T) {
	for _, name := range []string{mindarmourFile, servingFile} {
		path := filepath.Join(datatest.MindSporeCheckpoints(t), name)
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		rd, err := NewReader(bytes.NewReader(b), int64(len(b)))
		require.NoError(t, err)
		assert.False(t, rd.HasCRC(), name)
	}
}

// TestSafetensorsRoundTripIsByteExact converts each shared file to safetensors and back, and
// expects the original file, byte for byte: names, order, dtypes, dims and contents.
func TestSafetensorsRoundTripIsByteExact(t *testing.T) {
	for _, name := range []string{mindarmourFile, servingFile} {
		t.Run(name, func(t *testing.T) {
			path, ts := readShared(t, name)
			original, err := os.ReadFile(path)
			require.NoError(t, err)

			raw := make([]nn.RawTensor, len(ts))
			for i, x := range ts {
				raw[i], err = x.Raw()
				require.NoError(t, err)
			}
			st := filepath.Join(t.TempDir(), "m.safetensors")
			require.NoError(t, nn.WriteSafetensorsRawFile(st, raw))
			back, err := nn.ReadSafetensorsRawFile(st)
			require.NoError(t, err)
			converted := make([]*Tensor, len(back))
			for i, rt := range back {
				converted[i], err = FromRaw(rt)
				require.NoError(t, err)
			}
			requireSameTensors(t, ts, converted)

			var out bytes.Buffer
			require.NoError(t, Write(&out, converted, WriteOptions{}))
			assert.True(t, bytes.Equal(original, out.Bytes()),
				"rewritten file differs from the original (%d vs %d bytes)", out.Len(),
				len(original))
		})
	}
}
