package nn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())
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
		{"duplicate", `{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},` +
			`"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8), "appears twice"},
		{"array", "[1]", nil, "not a JSON object: starts with ["},
		{"null", "null", nil, "not a JSON object: starts with null"},
		{"hole", `{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8),
			`4 unused bytes come before tensor "x": the data section has a hole`},
		{"no dtype", `{"x":{"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4),
			`tensor "x" has no dtype`},
		{"fractional shape", `{"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`,
			make([]byte, 4), `tensor "x": field shape: expected an integer, found a JSON ` +
				"number 1.5"},
		{"bad dtype", `{"x":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}`, make([]byte, 8),
			"unsupported dtype"},
		{"past end", `{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, make([]byte, 8),
			`the file is truncated: tensor "x" ends at byte 16 of the data section, which ` +
				"holds 8 bytes"},
		{"past end, wrong shape", `{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}`,
			make([]byte, 8), "do not fit"},
		{"shape mismatch", `{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`,
			make([]byte, 8), "do not fit"},
		{"negative dim", `{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}`, nil,
			"invalid shape"},
		{"overflow", `{"x":{"dtype":"F32","shape":[4294967296,4294967296],` +
			`"data_offsets":[0,0]}}`, nil, "invalid shape"},
		{"trailing bytes", `{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
			make([]byte, 9), "5 bytes follow the last tensor"},
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

// rawSamples returns one tensor of every raw dtype, a 0-d tensor and a zero-size tensor.
func rawSamples() []RawTensor {
	var out []RawTensor
	for i, dtype := range []string{"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8",
		"U64", "U32", "U16", "U8", "BOOL"} {
		size, _ := RawDTypeSize(dtype)
		data := make([]byte, 3*size)
		for j := range data {
			data[j] = byte(i*29 + j*5 + 1)
		}
		if dtype == "BOOL" {
			data = []byte{1, 0, 1}
		}
		out = append(out, RawTensor{Name: "t." + dtype, DType: dtype, Shape: []int{3, 1},
			Data: data})
	}
	return append(out,
		RawTensor{Name: "scalar", DType: "I32", Shape: []int{}, Data: []byte{5, 0, 0, 0}},
		RawTensor{Name: "empty", DType: "F32", Shape: []int{0, 4}, Data: []byte{}})
}

func TestSafetensorsRawRoundTrip(t *testing.T) {
	want := rawSamples()
	path := filepath.Join(t.TempDir(), "raw.safetensors")
	require.NoError(t, WriteSafetensorsRawFile(path, want))
	got, err := ReadSafetensorsRawFile(path)
	require.NoError(t, err)
	assert.Equal(t, want, got, "names, dtypes, shapes, bytes and order are kept")

	// The float API still reads a file of float tensors written by the raw API.
	m, err := ReadSafetensorsFile(path)
	require.ErrorIs(t, err, ErrSafetensors)
	assert.ErrorContains(t, err, "only F32, F16 and BF16 load as float tensors")
	assert.Nil(t, m)
	floats := filepath.Join(t.TempDir(), "floats.safetensors")
	require.NoError(t, WriteSafetensorsRawFile(floats, want[1:4]))
	m, err = ReadSafetensorsFile(floats)
	require.NoError(t, err)
	require.Len(t, m, 3)
	assert.Equal(t, tensor.Shape{3, 1}, m["t.F32"].Shape())
	assert.Equal(t, tensor.BFloat16, m["t.BF16"].DType())
}

func TestRawTensorConversion(t *testing.T) {
	a, err := tensor.FromFloat32([]float32{1.5, -2}, 2)
	require.NoError(t, err)
	raw := NewRawTensor("a", a)
	assert.Equal(t, RawTensor{Name: "a", DType: "F32", Shape: []int{2},
		Data: []byte{0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0}}, raw)
	back, err := raw.Tensor()
	require.NoError(t, err)
	assert.Equal(t, a.Float32s(), back.Float32s())

	_, err = RawTensor{Name: "i", DType: "I32", Shape: []int{1}, Data: make([]byte, 4)}.Tensor()
	assert.ErrorContains(t, err, "only F32, F16 and BF16")
	_, err = RawTensor{Name: "s", DType: "F32", Shape: []int{3}, Data: make([]byte, 8)}.Tensor()
	assert.ErrorContains(t, err, "has 8 bytes, but shape [3] of F32 needs 12")
}

func TestWriteSafetensorsRawRejectsBadTensors(t *testing.T) {
	cases := []struct {
		name   string
		tensor RawTensor
		msg    string
	}{
		{"dtype", RawTensor{Name: "x", DType: "C64", Shape: []int{1}, Data: make([]byte, 8)},
			"unsupported dtype"},
		{"length", RawTensor{Name: "x", DType: "U16", Shape: []int{2}, Data: make([]byte, 3)},
			"needs 4"},
		{"invalid UTF-8", RawTensor{Name: "\xff", DType: "U8", Shape: []int{1},
			Data: []byte{1}}, "not valid UTF-8"},
		{"reserved name", RawTensor{Name: "__metadata__", DType: "U8", Shape: []int{1},
			Data: []byte{1}}, "reserved"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteSafetensorsRaw(&buf, []RawTensor{tc.tensor})
			assert.ErrorContains(t, err, tc.msg)
			assert.Zero(t, buf.Len(), "nothing written")
		})
	}
}

func TestSafetensorsZeroSizeTensorsShareOffset(t *testing.T) {
	header := `{"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},` +
		`"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},` +
		`"c":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}`
	b := encodeSafetensors(header, make([]byte, 4))
	got, err := ReadSafetensorsRaw(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, "a", got[0].Name)
	assert.Equal(t, "b", got[1].Name)
	assert.Equal(t, "c", got[2].Name)
}

// FuzzReadSafetensors feeds arbitrary bytes to both readers. They must return tensors or an
// error wrapping ErrSafetensors, never panic, and what the raw reader returns must survive a
// write and a second read unchanged.
func FuzzReadSafetensors(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteSafetensorsRaw(&buf, rawSamples()); err != nil {
		f.Fatal(err)
	}
	valid := bytes.Clone(buf.Bytes())
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add(encodeSafetensors(`{"__metadata__":{"format":"ms"},`+
		`"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add(encodeSafetensors(`{"x":{"dtype":"F32","shape":[4294967296,4294967296],`+
		`"data_offsets":[0,0]}}`, nil))
	f.Add(encodeSafetensors(`{"x":{"dtype":"I8","shape":[1],"data_offsets":[0,1]},`+
		`"y":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}))
	f.Add(encodeSafetensors(strings.Repeat("[", 20000), nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := ReadSafetensors(bytes.NewReader(data), int64(len(data))); err != nil &&
			!errors.Is(err, ErrSafetensors) {
			t.Fatalf("float reader: error does not wrap ErrSafetensors: %v", err)
		}
		got, err := ReadSafetensorsRaw(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrSafetensors) {
				t.Fatalf("raw reader: error does not wrap ErrSafetensors: %v", err)
			}
			return
		}
		var out bytes.Buffer
		if err := WriteSafetensorsRaw(&out, got); err != nil {
			t.Fatalf("writing what was read: %v", err)
		}
		again, err := ReadSafetensorsRaw(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("reading what was written: %v", err)
		}
		if len(again) != len(got) {
			t.Fatalf("read back %d tensors, want %d", len(again), len(got))
		}
		for i := range got {
			g, a := got[i], again[i]
			if g.Name != a.Name || g.DType != a.DType || !slices.Equal(g.Shape, a.Shape) ||
				!bytes.Equal(g.Data, a.Data) {
				t.Fatalf("tensor %d changed: %q %s %v -> %q %s %v", i, g.Name, g.DType,
					g.Shape, a.Name, a.DType, a.Shape)
			}
		}
	})
}

func TestReadSafetensorsFileRejectsDevices(t *testing.T) {
	if _, err := os.Stat(os.DevNull); err != nil {
		t.Skipf("no %s on this system", os.DevNull)
	}
	_, err := ReadSafetensorsFile(os.DevNull)
	require.ErrorIs(t, err, ErrSafetensors)
	assert.ErrorContains(t, err, "not a regular file")
}

func TestReadSafetensorsFileNamesFolderAndEmptyFile(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadSafetensorsFile(dir)
	require.ErrorIs(t, err, ErrSafetensors)
	assert.ErrorContains(t, err, dir+": invalid safetensors file: a folder, not a file")

	empty := filepath.Join(dir, "empty.safetensors")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	_, err = ReadSafetensorsFile(empty)
	require.ErrorIs(t, err, ErrSafetensors)
	assert.ErrorContains(t, err, empty+": invalid safetensors file: empty file")
}
