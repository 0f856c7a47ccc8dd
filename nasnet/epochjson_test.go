package nasnet

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEpochMetricsJSONRoundTrip(t *testing.T) {
	m := EpochMetrics{Epoch: 3, LR: 0.05, TrainLoss: 1.25, TrainTop1: 0.5, TestLoss: 1.5,
		TestTop1: 0.625, TestImages: 2000, Seconds: 520.5, ImagesPerSecond: 96.25,
		TestSeconds: 12}
	data, err := json.Marshal(m)
	require.NoError(t, err)
	assert.JSONEq(t, `{"epoch":3,"lr":0.05,"train_loss":1.25,"train_top1":0.5,`+
		`"test_loss":1.5,"test_top1":0.625,"test_images":2000,"seconds":520.5,`+
		`"images_per_second":96.25,"test_seconds":12}`, string(data))
	var back EpochMetrics
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, m, back)
}

func TestEpochMetricsJSONNonFinite(t *testing.T) {
	m := EpochMetrics{Epoch: 1, LR: 0.1, TrainLoss: 2, TrainTop1: 0.1,
		TestLoss: math.Inf(1), TestTop1: 0.1, TestImages: 10, Seconds: math.NaN()}
	data, err := json.Marshal(m)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"test_loss":null`)
	assert.Contains(t, string(data), `"seconds":null`)
	assert.Contains(t, string(data), `"train_loss":2,`)

	var back EpochMetrics
	require.NoError(t, json.Unmarshal(data, &back))
	assert.True(t, math.IsNaN(back.TestLoss))
	assert.True(t, math.IsNaN(back.Seconds))
	assert.Equal(t, 2.0, back.TrainLoss)
	assert.Equal(t, 10, back.TestImages)

	assert.Error(t, json.Unmarshal([]byte(`{"epoch":"one"}`), &back))
}
