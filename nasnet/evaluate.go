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
	// Flip also runs every image mirrored left to right and scores each image by the mean
	// of the two softmax outputs. The logits are then the logarithms of those means.
	Flip bool
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
	var mirrored, scores []float32
	if opt.Flip {
		mirrored = make([]float32, len(input))
		scores = make([]float32, min(opt.BatchSize, total)*NumClasses)
	}
	start := time.Now()
	for from := 0; from < total; from += opt.BatchSize {
		to := min(from+opt.BatchSize, total)
		n := to - from
		set.Normalize(input, from, to)
		l, err := forwardImages(inf, input[:n*cifar10.ImageBytes], n)
		if err != nil {
			return nil, err
		}
		if opt.Flip {
			l, err = flipAverage(inf, input[:n*cifar10.ImageBytes], mirrored, l, scores, n)
			if err != nil {
				return nil, err
			}
		}
		if opt.KeepLogits {
			res.Logits = append(res.Logits, l...)
		}
		for i := range n {
			row := l[i*NumClasses : (i+1)*NumClasses]
			label := int(set.Labels[from+i])
			rank := labelRank(row, label)
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

// labelRank returns the number of classes that row ranks above label: those with a larger
// logit, and those with an equal logit and a lower index, as an argmax keeps the first of
// equal values. It returns NumClasses where the label's logit is NaN.
func labelRank(row []float32, label int) int {
	if math.IsNaN(float64(row[label])) {
		return NumClasses
	}
	rank := 0
	for c, v := range row {
		if v > row[label] || v == row[label] && c < label {
			rank++
		}
	}
	return rank
}

// forwardImages returns the logits of the n preprocessed images in input. The result is
// reused by the next call with the same n.
func forwardImages(inf *Inference, input []float32, n int) ([]float32, error) {
	x, err := tensor.FromFloat32(input, n, 3, ImageSize, ImageSize)
	if err != nil {
		return nil, err
	}
	logits, err := inf.Forward(x)
	if err != nil {
		return nil, err
	}
	return logits.Float32s(), nil
}

// flipAverage runs the n images of input mirrored left to right and writes to scores the
// logarithm of the mean of each image's two softmax outputs, given its logits unmirrored.
// The mirrored images are written to mirrored, as long as input.
func flipAverage(inf *Inference, input, mirrored, logits, scores []float32,
	n int) ([]float32, error) {
	scores = scores[:n*NumClasses]
	softmaxRows(scores, logits)
	mirrorImages(mirrored[:len(input)], input)
	flipped, err := forwardImages(inf, mirrored[:len(input)], n)
	if err != nil {
		return nil, err
	}
	var mirrorProbs [NumClasses]float32
	for i := range n {
		softmaxRows(mirrorProbs[:], flipped[i*NumClasses:(i+1)*NumClasses])
		for c, p := range mirrorProbs {
			mean := (scores[i*NumClasses+c] + p) / 2
			scores[i*NumClasses+c] = float32(math.Log(float64(mean)))
		}
	}
	return scores, nil
}

// mirrorImages writes to dst the images of src, [N, C, H, W], mirrored left to right.
func mirrorImages(dst, src []float32) {
	for row := 0; row < len(src); row += ImageSize {
		s, d := src[row:row+ImageSize], dst[row:row+ImageSize]
		for x := range ImageSize {
			d[x] = s[ImageSize-1-x]
		}
	}
}

// softmaxRows writes to dst the softmax of each row of NumClasses values in src, computed
// in float64.
func softmaxRows(dst, src []float32) {
	for r := 0; r < len(src); r += NumClasses {
		row := src[r : r+NumClasses]
		m, s := maxAndExpSum(row)
		for c, v := range row {
			dst[r+c] = float32(math.Exp(float64(v)-m) / s)
		}
	}
}

// crossEntropy returns −log softmax(row)[label], computed stably in float64.
func crossEntropy(row []float32, label int) float64 {
	m, s := maxAndExpSum(row)
	return m + math.Log(s) - float64(row[label])
}

// maxAndExpSum returns the largest value m of row and the sum of exp(v − m) over its values.
func maxAndExpSum(row []float32) (m, s float64) {
	m = math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return m, s
}
