// Package plot draws the learning curves of a training run as a PNG image, with
// gonum.org/v1/plot.
package plot

import (
	"fmt"
	"io"
	"math"

	gonumplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/renasgo/renas/nasnet"
	"github.com/renasgo/renas/nn"
)

// Size of the image: two panels side by side.
const (
	Width  = 10 * vg.Inch
	Height = 4 * vg.Inch
)

// WriteCurves draws the loss (left) and the top-1 accuracy in percent (right) of every
// epoch in history, on the training and the test set, and writes the image as PNG. The
// test curves are left out when no epoch was evaluated.
func WriteCurves(w io.Writer, history []nasnet.EpochMetrics) error {
	return WriteRuns(w, []Run{{History: history}})
}

// Run is the history of one training run, drawn under its name.
type Run struct {
	Name    string
	History []nasnet.EpochMetrics
}

// WriteRuns draws the curves of WriteCurves for several runs in the same two panels, each
// labelled with its run's name, and writes the image as PNG.
func WriteRuns(w io.Writer, runs []Run) (err error) {
	// gonum/plot panics on axis ranges it cannot divide into ticks, such as one epoch with
	// a loss of 1e16.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plot: cannot draw these values: %v", r)
		}
	}()
	if len(runs) == 0 {
		return fmt.Errorf("plot: no runs to draw")
	}
	for _, r := range runs {
		if len(r.History) == 0 {
			return fmt.Errorf("plot: run %q has no epochs to draw", r.Name)
		}
	}
	loss, err := newPanel("Loss", "cross-entropy", runs, true,
		func(m nasnet.EpochMetrics) (float64, float64) { return m.TrainLoss, m.TestLoss })
	if err != nil {
		return err
	}
	acc, err := newPanel("Accuracy", "top-1 (%)", runs, false,
		func(m nasnet.EpochMetrics) (float64, float64) {
			return 100 * m.TrainTop1, 100 * m.TestTop1
		})
	if err != nil {
		return err
	}
	img := vgimg.New(Width, Height)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Centimeter, PadTop: vg.Millimeter,
		PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: vg.Centimeter}
	canvases := gonumplot.Align([][]*gonumplot.Plot{{loss, acc}}, tiles, dc)
	loss.Draw(canvases[0][0])
	acc.Draw(canvases[0][1])
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// WriteCurvesFile writes the image of WriteCurves to path atomically (see
// nn.WriteFileAtomic).
func WriteCurvesFile(path string, history []nasnet.EpochMetrics) error {
	return nn.WriteFileAtomic(path, func(w io.Writer) error { return WriteCurves(w, history) })
}

// WriteRunsFile writes the image of WriteRuns to path atomically (see nn.WriteFileAtomic).
func WriteRunsFile(path string, runs []Run) error {
	return nn.WriteFileAtomic(path, func(w io.Writer) error { return WriteRuns(w, runs) })
}

// series is one curve of a panel.
type series struct {
	name string
	xys  plotter.XYs
}

// newPanel returns a plot of the train values that value picks from each epoch of each run,
// and of the test values of the runs that have any. The legend goes where the curves end
// up: top right for a falling loss, bottom right for a rising accuracy.
func newPanel(title, yLabel string, runs []Run, legendTop bool,
	value func(nasnet.EpochMetrics) (train, test float64)) (*gonumplot.Plot, error) {
	p := gonumplot.New()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = legendTop
	var curves []series
	for _, r := range runs {
		prefix := ""
		if r.Name != "" {
			prefix = r.Name + " "
		}
		train := series{name: prefix + "train"}
		test := series{name: prefix + "test"}
		tested := false
		for _, m := range r.History {
			tr, te := value(m)
			if finite(tr) {
				train.xys = append(train.xys, plotter.XY{X: float64(m.Epoch), Y: tr})
			}
			if m.TestImages > 0 {
				tested = true
				if finite(te) {
					test.xys = append(test.xys, plotter.XY{X: float64(m.Epoch), Y: te})
				}
			}
		}
		curves = append(curves, train)
		if tested {
			curves = append(curves, test)
		}
	}
	for i, s := range curves {
		if len(s.xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(s.xys)
		if err != nil {
			return nil, fmt.Errorf("plot: %s %s: %w", title, s.name, err)
		}
		line.Color = plotutil.Color(i)
		points.Color = plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)
	}
	return p, nil
}

// finite reports whether v can be drawn. A NaN or infinite value, such as the loss of an
// epoch whose logits overflowed, leaves its point out of the curve.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
