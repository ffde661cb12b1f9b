// Command plot draws the latency against the request rate of hack/bench/load's results
// (load.json) as a PNG: p50 and p99 of each endpoint (Bulwark's /validate and /mutate, the
// upstream Pod Security webhook) for one fixture, on a logarithmic latency axis; and, with
// -sweep-out, the latency against the number of connections of a concurrency sweep. It is a
// module of its own so that the plotting library stays out of Bulwark's dependencies.
//
//	cd hack/bench/plot && go run . -in ../../../.local/bench/load/load.json -out ../../../docs/images/load-latency.png
//	cd hack/bench/plot && go run . -in ../../../.local/bench/sweep/load.json -sweep-out ../../../docs/images/load-sweep.png
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"os"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// results is the part of hack/bench/load's load.json drawn here.
type results struct {
	Machine   string   `json:"machine"`
	Duration  string   `json:"duration"`
	Fixtures  []string `json:"fixtures"`
	Endpoints []string `json:"endpoints"`
	Rounds    int      `json:"rounds"`
	Unpinned  bool     `json:"unpinned"`
	Runs      []run    `json:"runs"`
}

type run struct {
	Endpoint    string  `json:"endpoint"`
	Fixture     string  `json:"fixture"`
	Rate        int     `json:"rate"`
	Connections int     `json:"connections"`
	P50ms       float64 `json:"p50ms"`
	P99ms       float64 `json:"p99ms"`
}

var styles = map[string]struct {
	label string
	color color.Color
}{
	"bulwark-validate": {"Bulwark /validate", color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}},
	"bulwark-mutate":   {"Bulwark /mutate", color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}},
	"psa":              {"Pod Security webhook", color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}},
}

func main() {
	in := flag.String("in", "../../../.local/bench/load/load.json", "hack/bench/load's results")
	out := flag.String("out", "../../../docs/images/load-latency.png", "the PNG to write")
	fixture := flag.String("fixture", "", "the fixture to draw (default: the first of the run)")
	sweepOut := flag.String("sweep-out", "", "draw the concurrency sweep to this PNG instead of the fixed rates")
	flag.Parse()
	draw := fixedRates
	if *sweepOut != "" {
		draw, *out = sweep, *sweepOut
	}
	if err := draw(*in, *out, *fixture); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

// latencyPlot is a plot of latency, on a logarithmic axis, against x.
func latencyPlot(title, x string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = "latency, ms (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

// errNothing is endpoints' answer when no run of the fixture has an x.
var errNothing = errors.New("nothing to draw")

// endpoints adds the series of every endpoint: its runs of the fixture with an x (x(m) > 0),
// one point per x, the medians over the rounds.
func endpoints(p *plot.Plot, r results, fixture string, x func(run) int) error {
	drawn := 0
	for _, ep := range r.Endpoints {
		byX := map[int][]run{}
		for _, m := range r.Runs {
			if m.Endpoint == ep && m.Fixture == fixture && x(m) > 0 {
				byX[x(m)] = append(byX[x(m)], m)
			}
		}
		n, err := series(p, ep, byX)
		if err != nil {
			return err
		}
		drawn += n
	}
	if drawn == 0 {
		return errNothing
	}
	return nil
}

// load reads load.json, and the fixture to draw.
func load(in, fixture string) (results, string, error) {
	var r results
	data, err := os.ReadFile(in)
	if err != nil {
		return r, "", err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, "", fmt.Errorf("%s: %w", in, err)
	}
	if fixture == "" && len(r.Fixtures) > 0 {
		fixture = r.Fixtures[0]
	}
	return r, fixture, nil
}

// series adds the p50 (solid) and p99 (dashed) lines of one endpoint, x -> the medians of
// its runs at x; it returns how many it drew.
func series(p *plot.Plot, ep string, xs map[int][]run) (int, error) {
	st, ok := styles[ep]
	if !ok {
		st.label, st.color = ep, color.Black
	}
	var p50, p99 plotter.XYs
	for x, runs := range xs {
		var a, b []float64
		for _, m := range runs {
			a, b = append(a, m.P50ms), append(b, m.P99ms)
		}
		p50 = append(p50, plotter.XY{X: float64(x), Y: median(a)})
		p99 = append(p99, plotter.XY{X: float64(x), Y: median(b)})
	}
	drawn := 0
	for _, s := range []struct {
		name   string
		pts    plotter.XYs
		dashed bool
	}{{"p50", p50, false}, {"p99", p99, true}} {
		if len(s.pts) == 0 {
			continue
		}
		sort.Slice(s.pts, func(i, j int) bool { return s.pts[i].X < s.pts[j].X })
		line, points, err := plotter.NewLinePoints(s.pts)
		if err != nil {
			return drawn, err
		}
		line.Color, points.Color = st.color, st.color
		line.Width = vg.Points(1.5)
		points.Shape = draw.CircleGlyph{}
		if s.dashed {
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			points.Shape = draw.TriangleGlyph{}
		}
		p.Add(line, points)
		p.Legend.Add(st.label+" "+s.name, line, points)
		drawn++
	}
	return drawn, nil
}

// sweep draws p50 and p99 against the connections of the concurrency sweep.
func sweep(in, out, fixture string) error {
	r, fixture, err := load(in, fixture)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("Latency by concurrency, hey closed loop (%s, median of %d rounds)", fixture, r.Rounds)
	if r.Unpinned {
		title += ", unpinned"
	}
	p := latencyPlot(title, "connections (log scale)")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	if err := endpoints(p, r, fixture, func(m run) int { return m.Connections }); errors.Is(err, errNothing) {
		return fmt.Errorf("%s: no sweep runs for fixture %q", in, fixture)
	} else if err != nil {
		return err
	}
	return p.Save(10*vg.Inch, 6*vg.Inch, out)
}

// fixedRates draws p50 and p99 against the fixed request rates.
func fixedRates(in, out, fixture string) error {
	r, fixture, err := load(in, fixture)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("Latency at a fixed request rate, one server core (%s, %s per rate)", fixture, r.Duration)
	if r.Rounds > 1 {
		title = fmt.Sprintf("Latency at a fixed request rate, one server core (%s, median of %d rounds of %s)", fixture, r.Rounds, r.Duration)
	}
	p := latencyPlot(title, "requests per second (vegeta, open loop, HTTPS keep-alive)")
	if err := endpoints(p, r, fixture, func(m run) int { return m.Rate }); errors.Is(err, errNothing) {
		return fmt.Errorf("%s: no fixed-rate runs for fixture %q", in, fixture)
	} else if err != nil {
		return err
	}
	// The target: p99 under 2 ms at 2,000 req/s.
	target := plotter.NewFunction(func(float64) float64 { return 2 })
	target.Color = color.Gray{Y: 0x80}
	target.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(target)
	p.Legend.Add("2 ms", target)
	return p.Save(10*vg.Inch, 6*vg.Inch, out)
}

// median of v (the mean of the middle two for an even count); v is sorted in place.
func median(v []float64) float64 {
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
