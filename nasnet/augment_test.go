package nasnet

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/renasgo/renas/nasnet/cifar10"
)

// randomSet returns a set of n images of random bytes with random labels.
func randomSet(seed uint64, n int) *cifar10.Set {
	r := rand.New(rand.NewPCG(seed, 2))
	set := &cifar10.Set{Images: make([]byte, n*cifar10.ImageBytes), Labels: make([]uint8, n)}
	for i := range set.Images {
		set.Images[i] = byte(r.IntN(256))
	}
	for i := range set.Labels {
		set.Labels[i] = uint8(r.IntN(NumClasses))
	}
	return set
}

// referenceAugment pads img with black pixels into a 40×40 image, crops the 32×32 window at
// (a.Y, a.X), mirrors it when a.Flip is set and normalizes it with cifar10.Set.Normalize.
func referenceAugment(img []byte, a Augmentation) []float32 {
	const side, padded = 32, 32 + 2*CropPadding
	var pad [3][padded][padded]byte
	for c := range 3 {
		for y := range side {
			for x := range side {
				pad[c][y+CropPadding][x+CropPadding] = img[c*side*side+y*side+x]
			}
		}
	}
	out := make([]byte, cifar10.ImageBytes)
	for c := range 3 {
		for y := range side {
			for x := range side {
				v := pad[c][y+a.Y][x+a.X]
				ox := x
				if a.Flip {
					ox = side - 1 - x
				}
				out[c*side*side+y*side+ox] = v
			}
		}
	}
	set := &cifar10.Set{Images: out, Labels: []uint8{0}}
	dst := make([]float32, cifar10.ImageBytes)
	set.Normalize(dst, 0, 1)
	return dst
}

func TestAugmentMatchesReference(t *testing.T) {
	set := randomSet(1, 1)
	got := make([]float32, cifar10.ImageBytes)
	for y := 0; y <= 2*CropPadding; y++ {
		for x := 0; x <= 2*CropPadding; x++ {
			for _, flip := range []bool{false, true} {
				a := Augmentation{Y: y, X: x, Flip: flip}
				Augment(got, set.Image(0), a)
				want := referenceAugment(set.Image(0), a)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%+v: value %d (channel %d, row %d, column %d) is %v, want %v",
							a, i, i/1024, i/32%32, i%32, got[i], want[i])
					}
				}
			}
		}
	}
}

func TestAugmentCentredCropIsNormalize(t *testing.T) {
	set := randomSet(2, 1)
	got := make([]float32, cifar10.ImageBytes)
	Augment(got, set.Image(0), Augmentation{Y: CropPadding, X: CropPadding})
	want := make([]float32, cifar10.ImageBytes)
	set.Normalize(want, 0, 1)
	assert.Equal(t, want, got)
}

func TestAugmentPaddingIsBlackPixel(t *testing.T) {
	// A white image shows the padding as the only non-white values.
	img := make([]byte, cifar10.ImageBytes)
	for i := range img {
		img[i] = 255
	}
	got := make([]float32, cifar10.ImageBytes)
	Augment(got, img, Augmentation{Y: 0, X: 2 * CropPadding, Flip: true})
	for c := range 3 {
		black := (0 - cifar10.Mean[c]) / cifar10.Std[c]
		white := (1 - cifar10.Mean[c]) / cifar10.Std[c]
		plane := got[c*1024 : (c+1)*1024]
		// Rows 0-3 come from the top padding. The crop starts at padded column 8, so its
		// last 4 columns are padding; the flip moves them to output columns 0-3.
		for y := range 32 {
			for x := range 32 {
				want := white
				if y < CropPadding || x < CropPadding {
					want = black
				}
				require.Equal(t, want, plane[y*32+x], "channel %d row %d column %d", c, y, x)
			}
		}
	}
}

func TestDrawAugmentationCoversRange(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const draws = 9000
	var ys, xs [2*CropPadding + 1]int
	flips := 0
	for range draws {
		a := DrawAugmentation(r, 0)
		require.True(t, a.Y >= 0 && a.Y <= 2*CropPadding, "Y = %d", a.Y)
		require.True(t, a.X >= 0 && a.X <= 2*CropPadding, "X = %d", a.X)
		ys[a.Y]++
		xs[a.X]++
		if a.Flip {
			flips++
		}
	}
	// Each offset has probability 1/9: 1,000 expected, standard deviation about 30.
	for i := range ys {
		assert.InDelta(t, 1000, ys[i], 150, "Y = %d", i)
		assert.InDelta(t, 1000, xs[i], 150, "X = %d", i)
	}
	assert.InDelta(t, draws/2, flips, 250, "flips")
}

func TestEpochPlanIsSeeded(t *testing.T) {
	a := drawEpochPlan(rand.New(rand.NewPCG(5, dataStream)), 100, 96, 0)
	b := drawEpochPlan(rand.New(rand.NewPCG(5, dataStream)), 100, 96, 0)
	c := drawEpochPlan(rand.New(rand.NewPCG(6, dataStream)), 100, 96, 0)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a.order, c.order)
	assert.Len(t, a.order, 100)
	assert.Len(t, a.augs, 96)
	seen := make([]bool, 100)
	for _, i := range a.order {
		seen[i] = true
	}
	assert.NotContains(t, seen, false, "order is not a permutation")
}

// TestBatchLoaderIgnoresTiming reads the batches of one plan twice, once with a slow
// consumer, and compares both with batches built directly from the plan.
func TestBatchLoaderIgnoresTiming(t *testing.T) {
	const n, batch = 40, 8
	set := randomSet(7, n)
	plan := drawEpochPlan(rand.New(rand.NewPCG(8, dataStream)), n, n/batch*batch, 0)
	want := make([]float32, cifar10.ImageBytes)
	for _, delay := range []time.Duration{0, 2 * time.Millisecond} {
		loader := startBatchLoader(context.Background(), set, plan, batch, 0)
		b := 0
		for bt := range loader.ready {
			time.Sleep(delay)
			for i := range batch {
				k := b*batch + i
				Augment(want, set.Image(plan.order[k]), plan.augs[k])
				require.Equal(t, want, bt.data[i*cifar10.ImageBytes:(i+1)*cifar10.ImageBytes],
					"delay %v batch %d image %d", delay, b, i)
				require.Equal(t, set.Labels[plan.order[k]], bt.labels[i],
					"delay %v batch %d image %d label", delay, b, i)
			}
			loader.release(bt)
			b++
		}
		loader.stop()
		assert.Equal(t, n/batch, b, "batches with delay %v", delay)
	}
}

func TestBatchLoaderStopsEarly(t *testing.T) {
	set := randomSet(9, 64)
	plan := drawEpochPlan(rand.New(rand.NewPCG(9, dataStream)), 64, 64, 0)
	loader := startBatchLoader(context.Background(), set, plan, 8, 0)
	<-loader.ready
	loader.stop() // must return although the goroutine waits to send the next batch

	ctx, cancel := context.WithCancel(context.Background())
	loader = startBatchLoader(ctx, set, plan, 8, 0)
	cancel()
	for range loader.ready {
	}
	loader.stop()
}

// referenceCutout sets the pixels of img (CHW planes) inside the cutout square of a to 0, one
// pixel at a time: row y is inside when CutoutY−⌊Cutout/2⌋ ≤ y < CutoutY−⌊Cutout/2⌋+Cutout,
// and column x likewise.
func referenceCutout(img []float32, a Augmentation) {
	first := func(centre int) int { return centre - a.Cutout/2 }
	for c := range 3 {
		for y := range 32 {
			for x := range 32 {
				insideRow := y >= first(a.CutoutY) && y < first(a.CutoutY)+a.Cutout
				insideColumn := x >= first(a.CutoutX) && x < first(a.CutoutX)+a.Cutout
				if insideRow && insideColumn {
					img[c*1024+y*32+x] = 0
				}
			}
		}
	}
}

func TestAugmentCutoutMatchesReference(t *testing.T) {
	set := randomSet(31, 1)
	got := make([]float32, cifar10.ImageBytes)
	for _, c := range []struct {
		side, row, column int
		pixels            int // pixels of the square inside the image
	}{
		{1, 0, 0, 1},
		{1, 31, 31, 1},
		{1, 17, 4, 1},
		{2, 0, 0, 1},
		{2, 31, 31, 4},
		{7, 0, 0, 16},
		{7, 31, 0, 16},
		{7, 0, 31, 16},
		{7, 15, 16, 49},
		{7, 3, 28, 49},
		{16, 16, 16, 256},
		{16, 31, 31, 81},
		{16, 0, 31, 72},
		{16, 1, 30, 90},
		{16, 8, 24, 256},
		{32, 16, 16, 1024},
		{32, 0, 0, 256},
		{32, 31, 5, 357},
	} {
		for _, crop := range []Augmentation{{Y: 4, X: 4}, {Y: 0, X: 8, Flip: true},
			{Y: 7, X: 1}} {
			a := crop
			a.Cutout, a.CutoutY, a.CutoutX = c.side, c.row, c.column
			Augment(got, set.Image(0), a)
			want := referenceAugment(set.Image(0), crop)
			referenceCutout(want, a)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%+v: value %d (channel %d, row %d, column %d) is %v, want %v",
						a, i, i/1024, i/32%32, i%32, got[i], want[i])
				}
			}
			for ch := range 3 {
				zeros := 0
				for _, v := range got[ch*1024 : (ch+1)*1024] {
					if math.Float32bits(v) == 0 {
						zeros++
					}
				}
				assert.Equal(t, c.pixels, zeros, "%+v: zeros in channel %d", a, ch)
			}
		}
	}
}

func TestAugmentCutoutZeroChangesNothing(t *testing.T) {
	set := randomSet(32, 1)
	a := Augmentation{Y: 2, X: 6, Flip: true, CutoutY: 10, CutoutX: 20}
	got := make([]float32, cifar10.ImageBytes)
	Augment(got, set.Image(0), a)
	assert.Equal(t, referenceAugment(set.Image(0), a), got)
}

func TestAugmentDoesNotAllocate(t *testing.T) {
	set := randomSet(33, 1)
	dst := make([]float32, cifar10.ImageBytes)
	a := Augmentation{Y: 1, X: 7, Flip: true, Cutout: 16, CutoutY: 3, CutoutX: 29}
	allocs := testing.AllocsPerRun(20, func() { Augment(dst, set.Image(0), a) })
	assert.Zero(t, allocs)
}

// replayOldDraw replays the draws of one augmentation as they were before cutout existed:
// Y, X and Flip, with nothing drawn after them.
func replayOldDraw(r *rand.Rand) Augmentation {
	y := r.IntN(2*CropPadding + 1)
	x := r.IntN(2*CropPadding + 1)
	flip := r.IntN(2) == 1
	return Augmentation{Y: y, X: x, Flip: flip}
}

func requireSameState(t *testing.T, want, got *rand.PCG) {
	t.Helper()
	wantState, err := want.MarshalBinary()
	require.NoError(t, err)
	gotState, err := got.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, wantState, gotState, "generator state")
}

// TestDrawAugmentationWithoutCutoutKeepsDraws checks that cutout 0 draws the numbers that
// runs started before cutout existed drew, so their checkpoints resume bit for bit.
func TestDrawAugmentationWithoutCutoutKeepsDraws(t *testing.T) {
	pcg, replayPCG := rand.NewPCG(3, 4), rand.NewPCG(3, 4)
	r, replay := rand.New(pcg), rand.New(replayPCG)
	for i := range 1000 {
		require.Equal(t, replayOldDraw(replay), DrawAugmentation(r, 0), "draw %d", i)
	}
	requireSameState(t, replayPCG, pcg)

	pcg, replayPCG = rand.NewPCG(5, dataStream), rand.NewPCG(5, dataStream)
	plan := drawEpochPlan(rand.New(pcg), 100, 96, 0)
	replay = rand.New(replayPCG)
	assert.Equal(t, replay.Perm(100), plan.order)
	for i, a := range plan.augs {
		require.Equal(t, replayOldDraw(replay), a, "image %d", i)
	}
	requireSameState(t, replayPCG, pcg)
}

func TestDrawAugmentationCutoutDrawsCentreLast(t *testing.T) {
	pcg, replayPCG := rand.NewPCG(6, 7), rand.NewPCG(6, 7)
	plan := drawEpochPlan(rand.New(pcg), 50, 48, 16)
	replay := rand.New(replayPCG)
	assert.Equal(t, replay.Perm(50), plan.order)
	for i, a := range plan.augs {
		want := replayOldDraw(replay)
		want.Cutout = 16
		want.CutoutY = replay.IntN(ImageSize)
		want.CutoutX = replay.IntN(ImageSize)
		require.Equal(t, want, a, "image %d", i)
	}
	requireSameState(t, replayPCG, pcg)
}

func TestDrawAugmentationCutoutCoversImage(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	const draws = 32000
	var rows, columns [ImageSize]int
	for range draws {
		a := DrawAugmentation(r, 7)
		require.Equal(t, 7, a.Cutout)
		require.True(t, a.CutoutY >= 0 && a.CutoutY < ImageSize, "CutoutY = %d", a.CutoutY)
		require.True(t, a.CutoutX >= 0 && a.CutoutX < ImageSize, "CutoutX = %d", a.CutoutX)
		rows[a.CutoutY]++
		columns[a.CutoutX]++
	}
	// Each row and column has probability 1/32: 1,000 expected, standard deviation about 31.
	for i := range rows {
		assert.InDelta(t, 1000, rows[i], 150, "CutoutY = %d", i)
		assert.InDelta(t, 1000, columns[i], 150, "CutoutX = %d", i)
	}
}

func TestBatchLoaderAppliesCutout(t *testing.T) {
	const n, batch = 16, 4
	set := randomSet(10, n)
	plan := drawEpochPlan(rand.New(rand.NewPCG(11, dataStream)), n, n, 12)
	loader := startBatchLoader(context.Background(), set, plan, batch, 0)
	defer loader.stop()
	want := make([]float32, cifar10.ImageBytes)
	b := 0
	for bt := range loader.ready {
		for i := range batch {
			k := b*batch + i
			require.Equal(t, 12, plan.augs[k].Cutout)
			copy(want, referenceAugment(set.Image(plan.order[k]), plan.augs[k]))
			referenceCutout(want, plan.augs[k])
			require.Equal(t, want, bt.data[i*cifar10.ImageBytes:(i+1)*cifar10.ImageBytes],
				"batch %d image %d", b, i)
		}
		loader.release(bt)
		b++
	}
	assert.Equal(t, n/batch, b)
}
