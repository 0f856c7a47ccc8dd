package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/internal/datatest"
	"github.com/renasgo/renas/nn/mindspore"
)

func runCkpt(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func sharedFile(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(datatest.MindSporeCheckpoints(t), name)
}

const (
	mindarmour = "mindarmour_checkpoint_lenet-10_1875.ckpt"
	serving    = "serving_lenet_ascend_v111_offical_cv_mnist_bs32_acc98.ckpt"
)

func TestListMindarmour(t *testing.T) {
	code, out, errOut := runCkpt("list", sharedFile(t, mindarmour))
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 19, "18 tensors and a summary")
	assert.Equal(t, []string{"conv1.weight", "Float32", "[6,1,5,5]"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{"learning_rate", "Float64", "[]"}, strings.Fields(lines[8]))
	assert.Equal(t, []string{"moments.fc3.bias", "Float32", "[10]"}, strings.Fields(lines[17]))
	// 61,684 LeNet-5 weights, as many momentum buffers, and two scalars.
	assert.Equal(t, "18 tensors, 123370 parameters, 493488 bytes of data", lines[18])
}

func TestListServing(t *testing.T) {
	code, out, errOut := runCkpt("list", sharedFile(t, serving))
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 22)
	assert.Equal(t, []string{"scale_sense", "Float32", "[]"}, strings.Fields(lines[8]))
	assert.Equal(t, []string{"current_iterator_step", "Int32", "[]"},
		strings.Fields(lines[19]))
	assert.Equal(t, "21 tensors, 123373 parameters, 493492 bytes of data", lines[21])
}

func TestConvertRoundTripIsByteExact(t *testing.T) {
	for _, name := range []string{mindarmour, serving} {
		t.Run(name, func(t *testing.T) {
			in := sharedFile(t, name)
			dir := t.TempDir()
			st := filepath.Join(dir, "m.safetensors")
			back := filepath.Join(dir, "m.ckpt")
			code, _, errOut := runCkpt("convert", in, st)
			require.Equal(t, 0, code, errOut)
			code, out, errOut := runCkpt("list", st)
			require.Equal(t, 0, code, errOut)
			first := strings.Fields(strings.SplitN(out, "\n", 2)[0])
			assert.Equal(t, []string{"conv1.weight", "F32", "[6,1,5,5]"}, first,
				"safetensors dtype names")
			code, _, errOut = runCkpt("convert", st, back)
			require.Equal(t, 0, code, errOut)

			want, err := os.ReadFile(in)
			require.NoError(t, err)
			got, err := os.ReadFile(back)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(want, got), ".ckpt -> .safetensors -> .ckpt changed bytes")

			code, out, _ = runCkpt("diff", in, st)
			assert.Equal(t, 0, code, out)
		})
	}
}

func TestConvertWithCRC(t *testing.T) {
	out := filepath.Join(t.TempDir(), "crc.ckpt")
	code, _, errOut := runCkpt("convert", "--crc", sharedFile(t, mindarmour), out)
	require.Equal(t, 0, code, errOut)
	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	rd, err := mindspore.NewReader(f, st.Size())
	require.NoError(t, err)
	assert.True(t, rd.HasCRC())
	code, _, _ = runCkpt("diff", sharedFile(t, mindarmour), out)
	assert.Equal(t, 0, code)
}

func TestDiffReportsEveryKind(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.ckpt")
	b := filepath.Join(dir, "b.ckpt")
	require.NoError(t, mindspore.WriteFile(a, []*mindspore.Tensor{
		{Name: "same", DType: "Int8", Shape: []int{2}, Data: []byte{1, 2}},
		{Name: "values", DType: "Int16", Shape: []int{2}, Data: []byte{1, 0, 5, 0}},
		{Name: "shape", DType: "Int8", Shape: []int{2}, Data: []byte{1, 2}},
		{Name: "dtype", DType: "Int8", Shape: []int{1}, Data: []byte{3}},
		{Name: "only.a", DType: "Bool", Shape: []int{1}, Data: []byte{1}},
	}, mindspore.WriteOptions{}))
	require.NoError(t, mindspore.WriteFile(b, []*mindspore.Tensor{
		{Name: "same", DType: "Int8", Shape: []int{2}, Data: []byte{1, 2}},
		{Name: "values", DType: "Int16", Shape: []int{2}, Data: []byte{1, 0, 0xfe, 0xff}},
		{Name: "shape", DType: "Int8", Shape: []int{1, 2}, Data: []byte{1, 2}},
		{Name: "dtype", DType: "UInt8", Shape: []int{1}, Data: []byte{3}},
		{Name: "only.b", DType: "Bool", Shape: []int{1}, Data: []byte{1}},
	}, mindspore.WriteOptions{}))
	code, out, errOut := runCkpt("diff", a, b)
	assert.Equal(t, 1, code, errOut)
	assert.Contains(t, out, "values differ: values max |Δ| = 7\n")
	assert.Contains(t, out, "shape changed: shape [2] -> [1,2]\n")
	assert.Contains(t, out, "dtype changed: dtype Int8 -> UInt8\n")
	assert.Contains(t, out, "only in "+a+": only.a\n")
	assert.Contains(t, out, "only in "+b+": only.b\n")
	assert.Contains(t, out, "3 tensors compared, 1 with different values, max |Δ| = 7 (values)")
	assert.NotContains(t, out, ": same")
}

func TestErrorsAreOneLineWithStatus2(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.ckpt")
	require.NoError(t, os.WriteFile(garbage, []byte("#!/bin/sh\n"), 0o644))
	encrypted := filepath.Join(dir, "enc.ckpt")
	require.NoError(t, os.WriteFile(encrypted, []byte{0xd8, 0x5e, 0x3a, 0x7f, 1, 2}, 0o644))
	truncated := filepath.Join(dir, "cut.safetensors")
	require.NoError(t, os.WriteFile(truncated, []byte{200, 0, 0, 0, 0, 0, 0, 0, '{'}, 0o644))
	missing := filepath.Join(dir, "missing.ckpt")
	unnamed := filepath.Join(dir, "unnamed.safetensors")
	header := `{"":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}}`
	require.NoError(t, os.WriteFile(unnamed,
		append(append([]byte{byte(len(header)), 0, 0, 0, 0, 0, 0, 0}, header...), 1, 2), 0o644))
	cases := []struct {
		name string
		args []string
		msg  string
	}{
		{"missing file", []string{"list", missing}, missing},
		{"not a checkpoint", []string{"list", garbage}, garbage + ": invalid MindSpore checkpoint"},
		{"encrypted", []string{"list", encrypted},
			"encrypted checkpoint: decryption is not supported"},
		{"truncated safetensors", []string{"diff", truncated, garbage}, truncated},
		{"unknown extension", []string{"convert", garbage, filepath.Join(dir, "x.pt")},
			`x.pt: unknown checkpoint extension ".pt"`},
		{"argument count", []string{"convert", garbage}, "convert takes 2 file arguments, got 1"},
		{"one argument", []string{"list"}, "list takes 1 file argument, got 0"},
		{"empty path", []string{"list", ""}, "list: file argument 1 is empty"},
		{"flag after files", []string{"convert", garbage, "x.ckpt", "--crc"},
			"convert: flag --crc comes after a file argument: give the flags first"},
		{"output is the input", []string{"convert", garbage, filepath.Join(dir, ".", "garbage.ckpt")},
			filepath.Join(dir, "garbage.ckpt") + " is the same file as the input " + garbage},
		{"empty tensor name", []string{"convert", unnamed, filepath.Join(dir, "u.ckpt")},
			unnamed + ": tensor 1 has an empty name, which a .ckpt file cannot store"},
		{"unknown command", []string{"show", garbage}, `unknown command "show"`},
		{"no command", nil, "missing command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCkpt(tc.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, out)
			lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
			last := lines[len(lines)-1]
			assert.True(t, strings.HasPrefix(last, "ckpt: "), last)
			assert.Contains(t, last, tc.msg)
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"list", "--help"}, {"convert", "--help"},
		{"diff", "-h"}} {
		code, out, errOut := runCkpt(args...)
		assert.Equal(t, 0, code, "%v", args)
		assert.Empty(t, out)
		assert.Contains(t, errOut, "Usage: ckpt ", "%v", args)
	}
	_, _, errOut := runCkpt("convert", "--help")
	assert.Contains(t, errOut, "-crc")
}
