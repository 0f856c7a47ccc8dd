package plot

import (
	"fmt"
	"io"

	gonumplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/renasgo/renas/nn"
)

// Scatter describes a scatter plot of points (X[i], Y[i]).
type Scatter struct {
	Title, XLabel, YLabel string
	X, Y                  []float64
}

// WriteScatter draws s as a PNG image of 6×5 inches with small dots, for thousands of points.
func WriteScatter(w io.Writer, s Scatter) error {
	if len(s.X) != len(s.Y) || len(s.X) == 0 {
		return fmt.Errorf("plot: scatter needs as many y as x values, and at least one; got "+
			"%d and %d", len(s.X), len(s.Y))
	}
	p := gonumplot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = s.Title, s.XLabel, s.YLabel
	points := make(plotter.XYs, len(s.X))
	for i := range s.X {
		points[i].X, points[i].Y = s.X[i], s.Y[i]
	}
	sc, err := plotter.NewScatter(points)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	sc.GlyphStyle.Radius = vg.Points(1)
	p.Add(sc, plotter.NewGrid())
	wt, err := p.WriterTo(6*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	_, err = wt.WriteTo(w)
	return err
}

// WriteScatterFile writes the image of WriteScatter to path atomically.
func WriteScatterFile(path string, s Scatter) error {
	return nn.WriteFileAtomic(path, func(w io.Writer) error { return WriteScatter(w, s) })
}
