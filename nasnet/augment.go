package nasnet

import (
	"context"
	"math/rand/v2"
	"sync"

	"github.com/renasgo/renas/nasnet/cifar10"
	"github.com/renasgo/renas/tensor"
)

// CropPadding is the border, in pixels, added on every side of a training image before the
// random 32×32 crop.
const CropPadding = 4

// Augmentation is the random transformation of one training image, as torchvision's
// RandomCrop(32, padding=4) followed by RandomHorizontalFlip() applies it to the PIL image:
// the image is padded with black pixels (value 0, before normalization), the 32×32 window
// whose top-left corner is row Y, column X of the padded 40×40 image is kept, and the window
// is mirrored left to right when Flip is set.
//
// When Cutout is positive, a Cutout×Cutout square of the result is then set to 0 in all three
// channels after normalization, which is the data set's per-channel mean. The square starts
// ⌊Cutout/2⌋ rows above row CutoutY and ⌊Cutout/2⌋ columns left of column CutoutX of the
// output image, and it is clipped at the image border. An even side thus has its centre at
// the lower and right one of the two middle pixels.
type Augmentation struct {
	Y, X int // 0 to 2·CropPadding
	Flip bool
	// Cutout is the side of the square in pixels, or 0 for no cutout.
	Cutout int
	// CutoutY and CutoutX are the row and column of the square's centre in the output image,
	// 0 to ImageSize−1.
	CutoutY, CutoutX int
}

// DrawAugmentation draws the crop offsets and the flip of one image from r, in that order:
// Y, X uniform in [0, 2·CropPadding] and Flip with probability 1/2. When cutout is positive,
// it then draws the centre of a cutout square of that side in pixels: CutoutY and CutoutX,
// uniform in [0, ImageSize). With cutout 0 it draws nothing more, so runs without cutout keep
// the data order and augmentation that they had before cutout existed.
func DrawAugmentation(r *rand.Rand, cutout int) Augmentation {
	y := r.IntN(2*CropPadding + 1)
	x := r.IntN(2*CropPadding + 1)
	a := Augmentation{Y: y, X: x, Flip: r.IntN(2) == 1}
	if cutout > 0 {
		a.Cutout = cutout
		a.CutoutY = r.IntN(ImageSize)
		a.CutoutX = r.IntN(ImageSize)
	}
	return a
}

// normalized[c][b] is pixel value b of channel c after cifar10.Set.Normalize, computed with
// the same float32 operations, so augmented and plain images agree bit for bit.
var normalized = func() (t [3][256]float32) {
	for c := range t {
		for b := range t[c] {
			v := float32(b) / 255
			t[c][b] = (v - cifar10.Mean[c]) / cifar10.Std[c]
		}
	}
	return t
}()

// Augment writes image img (cifar10.ImageBytes bytes, planes R, G, B) into dst as normalized
// CHW float32 planes, transformed by a. A pixel taken from the padding is black, which
// normalizes to −Mean[c]/Std[c], and a pixel of the cutout square is 0.
func Augment(dst []float32, img []byte, a Augmentation) {
	const side = ImageSize
	for c := range 3 {
		plane := img[c*side*side : (c+1)*side*side]
		out := dst[c*side*side : (c+1)*side*side]
		table := &normalized[c]
		for y := range side {
			row := out[y*side : (y+1)*side]
			sy := y + a.Y - CropPadding
			if sy < 0 || sy >= side {
				for x := range row {
					row[x] = table[0]
				}
				continue
			}
			src := plane[sy*side : (sy+1)*side]
			for x := range row {
				// Output column x shows column x of the crop, or column 31−x when flipped.
				cx := x
				if a.Flip {
					cx = side - 1 - x
				}
				sx := cx + a.X - CropPadding
				if sx < 0 || sx >= side {
					row[x] = table[0]
				} else {
					row[x] = table[src[sx]]
				}
			}
		}
	}
	applyCutout(dst, a)
}

// applyCutout sets the cutout square of a, clipped at the image border, to 0 in the three
// planes of dst.
func applyCutout(dst []float32, a Augmentation) {
	if a.Cutout <= 0 {
		return
	}
	const side = ImageSize
	top := a.CutoutY - a.Cutout/2
	left := a.CutoutX - a.Cutout/2
	bottom := min(top+a.Cutout, side)
	right := min(left+a.Cutout, side)
	top, left = max(top, 0), max(left, 0)
	if top >= bottom || left >= right {
		return
	}
	for c := range 3 {
		plane := dst[c*side*side : (c+1)*side*side]
		for y := top; y < bottom; y++ {
			clear(plane[y*side+left : y*side+right])
		}
	}
}

// epochPlan is the image order and the augmentation of every image of one training epoch.
// Batch b is order[b·n : (b+1)·n] for batch size n; images past the last full batch are
// not used and get no augmentation.
type epochPlan struct {
	order []int
	augs  []Augmentation
}

// drawEpochPlan shuffles the n images of a training set and draws the augmentation of the
// first used images, in batch order, with cutout squares of side cutout (0: none). All
// randomness of an epoch comes from r here, before any batch is prepared, so the batches do
// not depend on how the loader goroutine is scheduled and r's state after the call is the
// state at the epoch's end.
func drawEpochPlan(r *rand.Rand, n, used, cutout int) epochPlan {
	p := epochPlan{order: r.Perm(n), augs: make([]Augmentation, used)}
	for i := range p.augs {
		p.augs[i] = DrawAugmentation(r, cutout)
	}
	return p
}

// trainBatch is one prepared training batch; data is the storage of x.
type trainBatch struct {
	x      *tensor.Tensor
	data   []float32
	labels []uint8
}

// batchLoader prepares the batches of one epoch on its own goroutine, one batch ahead of the
// consumer: two batches circulate between the free and ready channels.
type batchLoader struct {
	ready chan *trainBatch
	free  chan *trainBatch
	done  chan struct{}
	wg    sync.WaitGroup
}

// startBatchLoader starts preparing the batches of plan from set, from batch first on. Read
// them from ready, hand each one back to release after its step, and call stop when done
// (also early).
func startBatchLoader(ctx context.Context, set *cifar10.Set, plan epochPlan,
	batchSize, first int) *batchLoader {
	l := &batchLoader{
		ready: make(chan *trainBatch),
		free:  make(chan *trainBatch, 2),
		done:  make(chan struct{}),
	}
	for range 2 {
		data := make([]float32, batchSize*cifar10.ImageBytes)
		x, err := tensor.FromFloat32(data, batchSize, 3, ImageSize, ImageSize)
		if err != nil {
			panic(err) // the shape is computed here and always matches data
		}
		l.free <- &trainBatch{x: x, data: data, labels: make([]uint8, batchSize)}
	}
	batches := len(plan.augs) / batchSize
	l.wg.Go(func() {
		defer close(l.ready)
		for b := first; b < batches; b++ {
			var bt *trainBatch
			select {
			case bt = <-l.free:
			case <-l.done:
				return
			case <-ctx.Done():
				return
			}
			for i := range batchSize {
				k := b*batchSize + i
				img := plan.order[k]
				Augment(bt.data[i*cifar10.ImageBytes:(i+1)*cifar10.ImageBytes], set.Image(img),
					plan.augs[k])
				bt.labels[i] = set.Labels[img]
			}
			select {
			case l.ready <- bt:
			case <-l.done:
				return
			case <-ctx.Done():
				return
			}
		}
	})
	return l
}

// release returns a consumed batch for reuse.
func (l *batchLoader) release(bt *trainBatch) { l.free <- bt }

// stop ends the loader goroutine and waits for it.
func (l *batchLoader) stop() {
	close(l.done)
	l.wg.Wait()
}
