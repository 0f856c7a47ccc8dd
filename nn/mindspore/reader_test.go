package mindspore

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

func readBytes(b []byte) ([]*Tensor, error) {
	return ReadAll(bytes.NewReader(b), int64(len(b)))
}

func writeBytes(t *testing.T, tensors []*Tensor, opt WriteOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, tensors, opt))
	return buf.Bytes()
}

func TestRoundTripEveryDType(t *testing.T) {
	want := sampleTensors()
	got, err := readBytes(writeBytes(t, want, WriteOptions{}))
	require.NoError(t, err)
	requireSameTensors(t, want, got)
}

func TestWriteLayoutMatchesMindSpore(t *testing.T) {
	b := writeBytes(t, []*Tensor{{Name: "w", DType: "Float32", Shape: []int{2, 1},
		Data: make([]byte, 8)}}, WriteOptions{})
	want := []byte{0x0a, 0x1c, 0x0a, 0x01, 'w', 0x12, 0x17, 0x08, 0x02, 0x08, 0x01,
		0x12, 0x07, 'F', 'l', 'o', 'a', 't', '3', '2', 0x1a, 0x08}
	want = append(want, make([]byte, 8)...)
	assert.Equal(t, want, b)

	scalar := writeBytes(t, []*Tensor{{Name: "s", DType: "Int8", Data: []byte{3}}},
		WriteOptions{})
	assert.Equal(t, []byte{0x08, 0x00}, scalar[7:9], "a 0-d tensor is written with dims [0]")
}

func TestReadScalarForms(t *testing.T) {
	oneFloat := []byte{0, 0, 0x80, 0x3f}
	cases := []struct {
		name  string
		dims  []uint64
		data  []byte
		shape []int
	}{
		{"dims [0], one element", []uint64{0}, oneFloat, nil},
		{"no dims", nil, oneFloat, nil},
		{"dims [1]", []uint64{1}, oneFloat, []int{1}},
		{"dims [0], no content", []uint64{0}, []byte{}, []int{0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readBytes(record("x", encodeTensor(tc.dims, "Float32", tc.data, false)))
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, tc.shape, got[0].Shape)
			assert.Equal(t, tc.data, got[0].Data)
		})
	}
}

func TestReadPackedDims(t *testing.T) {
	got, err := readBytes(record("p", encodeTensor([]uint64{3, 2}, "UInt8", make([]byte, 6),
		true)))
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, []int{3, 2}, got[0].Shape)
}

func TestReadJoinsSplitTensor(t *testing.T) {
	content := make([]byte, 4*10)
	for i := range content {
		content[i] = byte(i)
	}
	var file []byte
	for _, piece := range [][]byte{content[:12], content[12:28], content[28:]} {
		file = append(file, record("big", encodeTensor([]uint64{2, 5}, "Int32", piece, false))...)
	}
	file = append(file, record("after", encodeTensor([]uint64{1}, "Int8", []byte{9}, false))...)
	got, err := readBytes(file)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "big", got[0].Name)
	assert.Equal(t, []int{2, 5}, got[0].Shape)
	assert.Equal(t, content, got[0].Data)
	assert.Equal(t, "after", got[1].Name)
}

func TestWriteSplitsLargeTensor(t *testing.T) {
	defer func(old int) { maxPieceBytes = old }(maxPieceBytes)
	maxPieceBytes = 16
	big := &Tensor{Name: "big", DType: "Float64", Shape: []int{5}, Data: make([]byte, 40)}
	for i := range big.Data {
		big.Data[i] = byte(i + 1)
	}
	b := writeBytes(t, []*Tensor{big}, WriteOptions{})
	assert.Equal(t, 3, bytes.Count(b, []byte("\x12\x07Float64")), "three pieces: 16+16+8")
	got, err := readBytes(b)
	require.NoError(t, err)
	requireSameTensors(t, []*Tensor{big}, got)
}

func TestReadSplitTensorWithMixedTypes(t *testing.T) {
	file := append(record("x", encodeTensor([]uint64{2}, "Int8", []byte{1}, false)),
		record("x", encodeTensor([]uint64{2}, "UInt8", []byte{2}, false))...)
	_, err := readBytes(file)
	require.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, "split into pieces of types Int8 and UInt8")
}

func TestReadRepeatedNameApart(t *testing.T) {
	a := record("x", encodeTensor([]uint64{1}, "Int8", []byte{1}, false))
	b := record("y", encodeTensor([]uint64{1}, "Int8", []byte{2}, false))
	_, err := readBytes(append(append(a, b...), a...))
	require.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, `"x" appears twice`)
}

func TestCRCTrailer(t *testing.T) {
	want := sampleTensors()
	b := writeBytes(t, want, WriteOptions{CRC: true})
	trailer := b[len(b)-crcTrailerSize:]
	assert.Equal(t, "crc_num", string(trailer[:7]))
	assert.Equal(t, make([]byte, 6), trailer[7:13], "the top 6 bytes of the 10-byte value")
	assert.Equal(t, crc32.ChecksumIEEE(b[:len(b)-crcTrailerSize]),
		binary.BigEndian.Uint32(trailer[13:]))

	rd, err := NewReader(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	assert.True(t, rd.HasCRC())
	got, err := readBytes(b)
	require.NoError(t, err)
	requireSameTensors(t, want, got)

	corrupt := bytes.Clone(b)
	corrupt[len(corrupt)-crcTrailerSize-1] ^= 1 // the last content byte
	_, err = readBytes(corrupt)
	require.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, "CRC-32 is")

	wide := bytes.Clone(b)
	wide[len(wide)-10] = 1
	_, err = readBytes(wide)
	assert.ErrorContains(t, err, "does not fit in 32 bits")
}

func TestReadEncrypted(t *testing.T) {
	for _, magic := range encryptionMagics {
		b := binary.LittleEndian.AppendUint32(nil, magic)
		b = append(b, make([]byte, 60)...)
		_, err := readBytes(b)
		require.ErrorIs(t, err, ErrEncrypted)
		assert.EqualError(t, err, "encrypted checkpoint: decryption is not supported")
	}
}

func TestReadSkipsRecords(t *testing.T) {
	var file []byte
	// The model_type field of MindSpore 0.5.0-beta.
	file = protowire.AppendTag(file, 2, protowire.BytesType)
	file = protowire.AppendString(file, "normal")
	file = append(file, record("random_op", encodeTensor(nil, "random_op", []byte{1, 2}, false))...)
	mapOnly := protowire.AppendTag(nil, 1, protowire.BytesType)
	mapOnly = protowire.AppendString(mapOnly, "table")
	mapOnly = protowire.AppendTag(mapOnly, 3, protowire.BytesType)
	mapOnly = protowire.AppendBytes(mapOnly, []byte{0x0a, 0x00})
	file = append(file, topLevel(mapOnly)...)
	withUnknown := append(encodeValue("w", encodeTensor([]uint64{1}, "Bool", []byte{1}, false)),
		nestedGroups(50)...)
	file = append(file, topLevel(withUnknown)...)
	file = protowire.AppendTag(file, 9, protowire.VarintType)
	file = protowire.AppendVarint(file, 12345)

	got, err := readBytes(file)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "w", got[0].Name)
}

func TestReadEmptyFile(t *testing.T) {
	got, err := readBytes(nil)
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestReadMalformed(t *testing.T) {
	valid := record("x", encodeTensor([]uint64{2}, "Float32", make([]byte, 8), false))
	tooLong := protowire.AppendTag(nil, 1, protowire.BytesType)
	tooLong = protowire.AppendVarint(tooLong, 1<<40)
	deep := topLevel(append(encodeValue("d", encodeTensor([]uint64{1}, "Int8", []byte{1},
		false)), nestedGroups(protowire.DefaultRecursionLimit+10)...))
	manyDims := make([]uint64, MaxRank+1)
	for i := range manyDims {
		manyDims[i] = 1
	}
	cases := []struct {
		name string
		file []byte
		msg  string
	}{
		{"strategy file", []byte{0x08, 0x01, 0x10}, "first byte is 0x08"},
		{"truncated", valid[:len(valid)-1], "the file is truncated: field"},
		{"safetensors", append([]byte{2, 0, 0, 0, 0, 0, 0, 0}, "{}"...),
			"this is a .safetensors file: give it the .safetensors extension"},
		{"length past the end", tooLong, "1099511627776 bytes long"},
		{"content too short", record("x", encodeTensor([]uint64{3}, "Float32",
			make([]byte, 8), false)), "8 bytes of content, but dims [3] of Float32 need 12"},
		{"huge dims", record("x", encodeTensor([]uint64{1 << 40, 1 << 30}, "Float32", nil,
			false)), "invalid dims"},
		{"product overflows", record("x", encodeTensor([]uint64{1 << 62, 4}, "Int8", nil,
			false)), "invalid dims"},
		{"bytes overflow", record("x", encodeTensor([]uint64{1 << 61}, "Float64", nil,
			false)), "invalid dims"},
		{"negative dim", record("x", encodeTensor([]uint64{math.MaxUint64}, "Int8", nil,
			false)), "out of range"},
		{"too many dims", record("x", encodeTensor(manyDims, "Int8", []byte{1}, false)),
			"more than 64 dimensions"},
		{"unknown type", record("x", encodeTensor([]uint64{1}, "Complex64", make([]byte, 8),
			false)), `unsupported tensor_type "Complex64"`},
		{"no name", topLevel(protowire.AppendBytes(protowire.AppendTag(nil, 2,
			protowire.BytesType), encodeTensor(nil, "Int8", []byte{1}, false))),
			"name (tag) is missing"},
		{"empty name", record("", encodeTensor(nil, "Int8", []byte{1}, false)),
			"name (tag) is empty"},
		{"no tensor", topLevel(protowire.AppendString(protowire.AppendTag(nil, 1,
			protowire.BytesType), "x")), `"x" has no tensor`},
		{"no tensor_type", record("x", []byte{0x08, 0x01}), "tensor_type is missing"},
		{"nesting too deep", deep, "parse error"},
		{"odd string", record("s", encodeTensor([]uint64{0}, "str", []byte{1, 2, 3}, false)),
			"not a multiple of 4"},
		{"top-level group", append(bytes.Clone(valid), 0x0b), "wire type 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readBytes(tc.file)
			require.ErrorIs(t, err, ErrFormat)
			assert.ErrorContains(t, err, tc.msg)
		})
	}
}

// TestReadHostileSizesBoundMemory checks that lengths and dims that claim terabytes are
// rejected before anything of that size is allocated.
func TestReadHostileSizesBoundMemory(t *testing.T) {
	files := [][]byte{
		append(protowire.AppendVarint([]byte{0x0a}, 1<<40), make([]byte, 64)...),
		record("x", encodeTensor([]uint64{1 << 20, 1 << 20}, "Float64", nil, false)),
		append(record("x", encodeTensor([]uint64{1 << 20, 1 << 20}, "Int8", []byte{1}, false)),
			record("x", encodeTensor([]uint64{1 << 20, 1 << 20}, "Int8", []byte{2}, false))...),
	}
	for i, file := range files {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := readBytes(file)
		runtime.ReadMemStats(&after)
		require.ErrorIs(t, err, ErrFormat, "file %d", i)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20),
			"file %d: bytes allocated", i)
	}
}

func TestWriteRejectsBadTensors(t *testing.T) {
	cases := []struct {
		name   string
		tensor *Tensor
		msg    string
	}{
		{"empty name", &Tensor{DType: "Int8", Data: []byte{1}}, "empty name"},
		{"unknown type", &Tensor{Name: "x", DType: "Float8", Data: []byte{1}},
			"unsupported tensor_type"},
		{"wrong length", &Tensor{Name: "x", DType: "Int16", Shape: []int{2}, Data: []byte{1}},
			"need 4"},
		{"random_op", &Tensor{Name: "x", DType: "random_op", Data: []byte{1}}, "random_op"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, []*Tensor{tc.tensor}, WriteOptions{})
			assert.ErrorContains(t, err, tc.msg)
			assert.Zero(t, buf.Len(), "nothing written")
		})
	}
	var buf bytes.Buffer
	x := &Tensor{Name: "x", DType: "Int8", Data: []byte{1}}
	assert.ErrorContains(t, Write(&buf, []*Tensor{x, x}, WriteOptions{}), "appears twice")
}

func TestReaderStreams(t *testing.T) {
	want := sampleTensors()
	b := writeBytes(t, want, WriteOptions{})
	rd, err := NewReader(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	for i := range want {
		got, err := rd.Next()
		require.NoError(t, err, "tensor %d", i)
		assert.Equal(t, want[i].Name, got.Name)
	}
	_, err = rd.Next()
	assert.ErrorIs(t, err, io.EOF)
	_, err = rd.Next()
	assert.ErrorIs(t, err, io.EOF, "io.EOF again after the end")
}

func TestWriteFileIsAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.ckpt")
	want := sampleTensors()
	require.NoError(t, WriteFile(path, want, WriteOptions{}))
	bad := []*Tensor{{Name: "x", DType: "Int16", Data: []byte{1}}}
	require.Error(t, WriteFile(path, bad, WriteOptions{}))
	got, err := ReadFile(path)
	require.NoError(t, err)
	requireSameTensors(t, want, got)

	_, err = ReadFile(filepath.Join(t.TempDir(), "missing.ckpt"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestReadFileRejectsEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.ckpt")
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	_, err := ReadFile(path)
	require.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, "empty file")
}

func TestReadFileRejectsFolder(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadFile(dir)
	require.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, dir+": ")
	assert.ErrorContains(t, err, "a folder, not a file")
}
