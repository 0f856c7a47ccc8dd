package nn

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/tensor"
)

func TestSafetensorsRoundTrip(t *testing.T) {
	a, err := tensor.FromFloat32([]float32{1, -2.5, 3, 4, 5, 6}, 2, 3)
	require.NoError(t, err)
	h, err := tensor.FromBits16(tensor.Float16, []uint16{0x3c00, 0xc000}, 2)
	require.NoError(t, err)
	bf, err := tensor.FromBits16(tensor.BFloat16, []uint16{0x3f80}, 1, 1)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	require.NoError(t, WriteSafetensorsFile(path, []NamedTensor{{"a", a}, {"h", h}, {"b", bf}}))

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	hlen := binary.LittleEndian.Uint64(raw)
	assert.Zero(t, hlen%8, "header padded to 8 bytes")
	assert.Equal(t, int(8+hlen)+6*4+2*2+2, len(raw))

	m, err := ReadSafetensorsFile(path)
	require.NoError(t, err)
	require.Len(t, m, 3)
	assert.Equal(t, a.Float32s(), m["a"].Float32s())
	assert.Equal(t, tensor.Shape{2, 3}, m["a"].Shape())
	assert.Equal(t, tensor.Float16, m["h"].DType())
	assert.Equal(t, []float32{1, -2}, m["h"].ToFloat32().Float32s())
	assert.Equal(t, []float32{1}, m["b"].ToFloat32().Float32s())
}

func encodeSafetensors(header string, data []byte) []byte {
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, uint64(len(header)))
	buf.WriteString(header)
	buf.Write(data)
	return buf.Bytes()
}

func TestSafetensorsMalformed(t *testing.T) {
	cases := []struct {
		name, header string
		data         []byte
		msg          string
	}{
		{"not json", "{", nil, "not a JSON object"},
		{"bad dtype", `{"x":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}`, make([]byte, 8),
			"unsupported dtype"},
		{"past end", `{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, make([]byte, 8),
			"do not fit"},
		{"shape mismatch", `{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`,
			make([]byte, 8), "do not fit"},
		{"negative dim", `{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}`, nil,
			"invalid shape"},
		{"overflow", `{"x":{"dtype":"F32","shape":[4294967296,4294967296],` +
			`"data_offsets":[0,0]}}`, nil, "invalid shape"},
		{"overlap", `{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
			`"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8), "overlaps"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := encodeSafetensors(tc.header, tc.data)
			_, err := ReadSafetensors(bytes.NewReader(b), int64(len(b)))
			require.ErrorIs(t, err, ErrSafetensors)
			assert.ErrorContains(t, err, tc.msg)
		})
	}
	t.Run("huge header length", func(t *testing.T) {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint64(b, 1<<62)
		_, err := ReadSafetensors(bytes.NewReader(b), int64(len(b)))
		require.ErrorIs(t, err, ErrSafetensors)
	})
	t.Run("truncated", func(t *testing.T) {
		_, err := ReadSafetensors(bytes.NewReader([]byte{1, 2}), 2)
		require.ErrorIs(t, err, ErrSafetensors)
	})
}

func TestWriteFileAtomicKeepsOldFileOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.safetensors")
	require.NoError(t, os.WriteFile(path, []byte("good"), 0o644))
	err := WriteFileAtomic(path, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return os.ErrClosed
	})
	require.Error(t, err)
	got, _ := os.ReadFile(path)
	assert.Equal(t, "good", string(got))
	entries, _ := os.ReadDir(filepath.Dir(path))
	assert.Len(t, entries, 1, "temporary file removed")
}

func TestLoadStrictListsEveryProblem(t *testing.T) {
	params := []Param{
		{Name: "a.weight", Value: tensor.Zeros(2, 2), Trainable: true},
		{Name: "b.weight", Value: tensor.Zeros(3), Trainable: true},
		{Name: "c.weight", Value: tensor.Zeros(1), Trainable: true},
	}
	ckpt := map[string]*tensor.Tensor{
		"a.weight":      tensor.Zeros(2, 2),
		"b.weight":      tensor.Zeros(4),
		"extra":         tensor.Zeros(1),
		"moments.a":     tensor.Zeros(1),
		"learning_rate": tensor.Zeros(1),
	}
	ignore := func(name string) bool { return name == "learning_rate" }
	err := LoadStrict(params, ckpt, ignore)
	var le *LoadError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, []string{"c.weight"}, le.Missing)
	assert.Equal(t, []string{"extra", "moments.a"}, le.Unexpected)
	assert.Equal(t, []string{"b.weight: checkpoint [4], model [3]"}, le.Mismatched)
	assert.Contains(t, err.Error(), "1 missing (c.weight)")

	ok := map[string]*tensor.Tensor{"a.weight": tensor.Zeros(2, 2), "b.weight": tensor.Zeros(3),
		"c.weight": tensor.Zeros(1)}
	ok["a.weight"].Float32s()[3] = 7
	require.NoError(t, LoadStrict(params, ok, nil))
	assert.Equal(t, float32(7), params[0].Value.Float32s()[3])
}
