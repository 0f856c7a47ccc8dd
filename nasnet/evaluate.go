package nasnet

import (
	"fmt"
	"math"
	"time"

	"github.com/renasgo/renas/nasnet/cifar10"
	"github.com/renasgo/renas/tensor"
)

// EvalOptions configure Evaluate.
type EvalOptions struct {
	BatchSize int
	// Limit evaluates only the first Limit images; 0 means all.
	Limit int
	// DropLast skips a final batch smaller than BatchSize, as MindSpore's evaluation does.
	DropLast bool
	// KeepLogits stores every image's logits in EvalResult.Logits.
	KeepLogits bool
	// Progress, if not nil, is called with the number of images done after each batch.
	Progress func(done int)
}

// EvalResult holds the accuracy of a model on a data set. Accuracies are fractions.
type EvalResult struct {
	Images          int                `json:"images"`
	Top1            float64            `json:"top1"`
	Top5            float64            `json:"top5"`
	Loss            float64            `json:"loss"`
	ImagesPerSecond float64            `json:"images_per_second"`
	Seconds         float64            `json:"seconds"`
	PerClass        map[string]float64 `json:"per_class_top1"`
	Logits          []float32          `json:"-"`
}

// Evaluate runs inf over the images of set and returns top-1 and top-5 accuracy, the mean
// softmax cross-entropy and the throughput (preprocessing included).
func Evaluate(inf *Inference, set *cifar10.Set, opt EvalOptions) (*EvalResult, error) {
	total := set.Len()
	if opt.Limit > 0 {
		total = min(total, opt.Limit)
	}
	if opt.BatchSize <= 0 {
		return nil, fmt.Errorf("evaluate: batch size must be positive, got %d", opt.BatchSize)
	}
	available := total
	if opt.DropLast {
		total -= total % opt.BatchSize
	}
	if total == 0 {
		return nil, fmt.Errorf("evaluate: no images to evaluate: %d images and batch size %d "+
			"with the last partial batch dropped", available, opt.BatchSize)
	}
	res := &EvalResult{Images: total, PerClass: map[string]float64{}}
	if opt.KeepLogits {
		res.Logits = make([]float32, 0, total*NumClasses)
	}
	var top1, top5 int
	var loss float64
	var classSeen, classRight [NumClasses]int
	input := make([]float32, min(opt.BatchSize, total)*cifar10.ImageBytes)
	start := time.Now()
	for from := 0; from < total; from += opt.BatchSize {
		to := min(from+opt.BatchSize, total)
		n := to - from
		set.Normalize(input, from, to)
		x, err := tensor.FromFloat32(input[:n*cifar10.ImageBytes], n, 3, ImageSize, ImageSize)
		if err != nil {
			return nil, err
		}
		logits, err := inf.Forward(x)
		if err != nil {
			return nil, err
		}
		l := logits.Float32s()
		if opt.KeepLogits {
			res.Logits = append(res.Logits, l...)
		}
		for i := range n {
			row := l[i*NumClasses : (i+1)*NumClasses]
			label := int(set.Labels[from+i])
			rank := 0
			if math.IsNaN(float64(row[label])) {
				rank = NumClasses
			}
			for _, v := range row {
				if v > row[label] {
					rank++
				}
			}
			classSeen[label]++
			if rank == 0 {
				top1++
				classRight[label]++
			}
			if rank < 5 {
				top5++
			}
			loss += crossEntropy(row, label)
		}
		if opt.Progress != nil {
			opt.Progress(to)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.Top1 = float64(top1) / float64(total)
	res.Top5 = float64(top5) / float64(total)
	res.Loss = loss / float64(total)
	res.ImagesPerSecond = float64(total) / res.Seconds
	for c, name := range cifar10.ClassNames {
		if classSeen[c] > 0 {
			res.PerClass[name] = float64(classRight[c]) / float64(classSeen[c])
		}
	}
	return res, nil
}

// crossEntropy returns −log softmax(row)[label], computed stably in float64.
func crossEntropy(row []float32, label int) float64 {
	m := math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s) - float64(row[label])
}
