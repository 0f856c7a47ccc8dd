package nasnet

import (
	"encoding/json"
	"math"
)

// epochJSON is the JSON form of EpochMetrics. Its float fields are pointers so that a NaN
// or infinite value, which a JSON number cannot hold, is written as null.
type epochJSON struct {
	Epoch           int      `json:"epoch"`
	LR              *float64 `json:"lr"`
	TrainLoss       *float64 `json:"train_loss"`
	TrainTop1       *float64 `json:"train_top1"`
	TestLoss        *float64 `json:"test_loss"`
	TestTop1        *float64 `json:"test_top1"`
	TestImages      int      `json:"test_images"`
	Seconds         *float64 `json:"seconds"`
	ImagesPerSecond *float64 `json:"images_per_second"`
	TestSeconds     *float64 `json:"test_seconds"`
}

// floatField pairs a float field of EpochMetrics with its counterpart in epochJSON.
type floatField struct {
	value   *float64
	encoded **float64
}

// floatFields lists the float fields of m with their counterparts in j.
func floatFields(m *EpochMetrics, j *epochJSON) []floatField {
	return []floatField{
		{&m.LR, &j.LR}, {&m.TrainLoss, &j.TrainLoss}, {&m.TrainTop1, &j.TrainTop1},
		{&m.TestLoss, &j.TestLoss}, {&m.TestTop1, &j.TestTop1}, {&m.Seconds, &j.Seconds},
		{&m.ImagesPerSecond, &j.ImagesPerSecond}, {&m.TestSeconds, &j.TestSeconds},
	}
}

// MarshalJSON writes m as one JSON object, with null for a NaN or infinite value. A test
// loss is one of those when the logits of a test image overflow.
func (m EpochMetrics) MarshalJSON() ([]byte, error) {
	j := epochJSON{Epoch: m.Epoch, TestImages: m.TestImages}
	for _, f := range floatFields(&m, &j) {
		if v := *f.value; !math.IsNaN(v) && !math.IsInf(v, 0) {
			*f.encoded = &v
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the object that MarshalJSON writes. A null or missing float reads as
// NaN.
func (m *EpochMetrics) UnmarshalJSON(data []byte) error {
	var j epochJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*m = EpochMetrics{Epoch: j.Epoch, TestImages: j.TestImages}
	for _, f := range floatFields(m, &j) {
		*f.value = math.NaN()
		if *f.encoded != nil {
			*f.value = **f.encoded
		}
	}
	return nil
}
