package nasbench

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCodeRoundTrip(t *testing.T) {
	for _, r := range loadRecords(t, "data-1k.json") {
		code := r.Spec.Code()
		s, err := SpecFromCode(code)
		require.NoError(t, err, r.Hash)
		assert.Equal(t, r.Spec.Matrix(), s.Matrix(), r.Hash)
		assert.Equal(t, r.Spec.Ops(), s.Ops(), r.Hash)
	}
}

func TestSpecFromCodeRejectsGarbage(t *testing.T) {
	for _, code := range []uint64{0, 1, 1 << 40, 3 | 1<<23} {
		_, err := SpecFromCode(code)
		assert.Error(t, err, "%#x", code)
	}
}
