package mindspore

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// FuzzRead feeds arbitrary bytes to the reader. It must return tensors or an error, never
// panic, and whatever it reads must survive a write and a second read unchanged.
func FuzzRead(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ReadAll(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrEncrypted) {
				t.Fatalf("error wraps neither ErrFormat nor ErrEncrypted: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		for _, crc := range []bool{false, true} {
			buf.Reset()
			if err := Write(&buf, got, WriteOptions{CRC: crc}); err != nil {
				t.Fatalf("writing what was read (CRC %v): %v", crc, err)
			}
			again, err := ReadAll(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatalf("reading what was written (CRC %v): %v", crc, err)
			}
			requireSameTensors(t, got, again)
		}
	})
}

// fuzzSeeds returns small valid and invalid checkpoints that reach every branch of the
// parser: each dtype, scalars in both forms, packed dims, split tensors, the CRC trailer,
// skipped records and truncations.
func fuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var seeds [][]byte
	var buf bytes.Buffer
	if err := Write(&buf, sampleTensors(), WriteOptions{}); err != nil {
		tb.Fatal(err)
	}
	valid := bytes.Clone(buf.Bytes())
	seeds = append(seeds, valid, valid[:len(valid)/2], valid[:3])
	buf.Reset()
	if err := Write(&buf, sampleTensors()[:2], WriteOptions{CRC: true}); err != nil {
		tb.Fatal(err)
	}
	seeds = append(seeds, bytes.Clone(buf.Bytes()))
	seeds = append(seeds,
		record("s", encodeTensor(nil, "Float32", []byte{0, 0, 128, 63}, false)),
		record("p", encodeTensor([]uint64{2, 1}, "Int16", []byte{1, 0, 2, 0}, true)),
		append(record("x", encodeTensor([]uint64{2}, "UInt8", []byte{1}, false)),
			record("x", encodeTensor([]uint64{2}, "UInt8", []byte{2}, false))...),
		record("r", encodeTensor(nil, "random_op", []byte{9, 9, 9}, false)),
		record("u", encodeTensor([]uint64{0}, "str", []byte{'a', 0, 0, 0}, false)),
		[]byte{0xd8, 0x5e, 0x3a, 0x7f, 0, 0},
		[]byte{0x08, 0x01},
		[]byte{0x12, 0x06, 'n', 'o', 'r', 'm', 'a', 'l'},
		record("big", encodeTensor([]uint64{1 << 40, 1 << 40}, "Float64", nil, false)),
		topLevel(append(protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType),
			"m"), protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType),
			[]byte{0x0a, 0x00})...)),
		topLevel(append(encodeValue("g", encodeTensor(nil, "Int8", []byte{1}, false)),
			nestedGroups(200)...)),
	)
	return seeds
}

// nestedGroups returns depth start-group tags of field 4 followed by the matching end tags.
func nestedGroups(depth int) []byte {
	var b []byte
	for range depth {
		b = protowire.AppendTag(b, 4, protowire.StartGroupType)
	}
	for range depth {
		b = protowire.AppendTag(b, 4, protowire.EndGroupType)
	}
	return b
}
