package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// svg draws the report by hand (no dependencies): the paired ratios as bars
// (median) with min-max whiskers, 1.0x and goal marks; below, the
// published-port scaling curve (new connections/s against N) and the time to
// publish one more port against N.
func (r *report) svg() string {
	const (
		width   = 980
		labelW  = 330
		rowH    = 22
		plotR   = width - 150
		scaleH  = 330
		topPad  = 70
		palette = "#4477aa"
	)
	type row struct {
		label   string
		st      *stats
		goal    float64
		verdict string
	}
	var rows []row
	for _, c := range r.Cases {
		for _, rt := range c.Ratios {
			rows = append(rows, row{fmt.Sprintf("%s %s %s/%s", c.ID, rt.Metric, rt.Num, rt.Den), rt.Stats, rt.Goal, rt.Verdict})
		}
	}
	xmax := 2.0
	for _, rw := range rows {
		if rw.st != nil {
			xmax = math.Max(xmax, rw.st.Max)
		}
		xmax = math.Max(xmax, rw.goal)
	}
	xmax = math.Ceil(xmax*1.1*2) / 2
	x := func(v float64) float64 { return labelW + (plotR-labelW)*v/xmax }

	ratiosH := topPad + len(rows)*rowH + 40
	height := ratiosH + scaleH + 40
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`, width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>`)
	p(`<text x="20" y="24" font-size="16" font-weight="bold">bpfnet benchmark: paired ratios (bar: median, whisker: min-max)</text>`)
	p(`<text x="20" y="44" fill="#555">%s mode, %s, kernel %s, %d rounds, %.1f s runs, CPU %d</text>`,
		r.Mode, r.Started.UTC().Format("2006-01-02 15:04 UTC"), html.EscapeString(r.Machine["kernel"]), r.Settings.Rounds, r.Settings.RunSeconds, r.Settings.CPU)

	// Grid: a step that keeps labels apart.
	step := 0.5
	if xmax > 12 {
		step = 2
	} else if xmax > 5 {
		step = 1
	}
	for v := 0.0; v <= xmax+1e-9; v += step {
		col := "#eee"
		if v == 1 {
			col = "#888"
		}
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`, x(v), topPad-8, x(v), topPad+len(rows)*rowH, col)
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%.1fx</text>`, x(v), topPad+len(rows)*rowH+16, v)
	}
	for i, rw := range rows {
		y := topPad + i*rowH
		p(`<text x="%d" y="%d" text-anchor="end">%s</text>`, labelW-8, y+11, html.EscapeString(rw.label))
		if rw.st == nil {
			p(`<text x="%d" y="%d" fill="#999">%s</text>`, labelW+6, y+11, html.EscapeString(rw.verdict))
		} else {
			fill := palette
			switch rw.verdict {
			case "PASS":
				fill = "#228833"
			case "MISS":
				fill = "#cc3311"
			}
			p(`<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" opacity="0.8"/>`, x(0), y+2, x(rw.st.Median)-x(0), rowH-8, fill)
			p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`, x(rw.st.Min), y+7, x(rw.st.Max), y+7)
			p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`, x(rw.st.Min), y+3, x(rw.st.Min), y+11)
			p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`, x(rw.st.Max), y+3, x(rw.st.Max), y+11)
			p(`<text x="%d" y="%d">%.2fx %s</text>`, plotR+8, y+11, rw.st.Median, rw.verdict)
		}
		if rw.goal > 0 {
			p(`<path d="M%.1f %d l-5 -7 h10 z" fill="#ee7733"><title>goal %.2fx</title></path>`, x(rw.goal), y+2, rw.goal)
		}
	}
	p(`<text x="%d" y="%d" fill="#555">orange mark: goal; green: goal met; red: missed; blue: context</text>`, labelW, topPad+len(rows)*rowH+34)

	r.svgScaling(&b, ratiosH, scaleH)
	p(`</svg>`)
	return b.String()
}

// svgScaling draws two plots side by side at y0: connections/s and publish
// time against N (log scale), one line per series.
func (r *report) svgScaling(b *strings.Builder, y0, h int) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format+"\n", a...) }
	type series struct {
		system, label, color, dash string
		value                      func(sp scalingPoint) (v, lo, hi float64, ok bool)
	}
	crr := func(sp scalingPoint) (float64, float64, float64, bool) {
		if sp.Stats == nil {
			return 0, 0, 0, false
		}
		return sp.Stats.Median, sp.Stats.Min, sp.Stats.Max, true
	}
	pub := func(sp scalingPoint) (float64, float64, float64, bool) {
		return sp.PublishMS, sp.PublishMS, sp.PublishMS, sp.PublishMS > 0
	}
	seq := func(sp scalingPoint) (float64, float64, float64, bool) {
		return sp.PublishSeqMS, sp.PublishSeqMS, sp.PublishSeqMS, sp.PublishSeqMS > 0
	}
	plots := []struct {
		title  string
		x0     int
		logY   bool
		series []series
	}{
		{"published port: new connections/s vs N", 70, false, []series{
			{"docker", "docker", "#4477aa", "", crr}, {"bpfnet", "bpfnet", "#228833", "", crr}}},
		{"publish one more port: ms (median, log) vs N", 560, true, []series{
			{"docker", "iptables -A x2", "#4477aa", "", pub}, {"docker", "dockerd -C/-A x3", "#66ccee", "6 4", seq},
			{"bpfnet", "bpfnet", "#228833", "", pub}}},
	}
	const pw = 370
	ph := h - 90
	top := y0 + 40
	for _, pl := range plots {
		p(`<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>`, pl.x0-50, y0+16, html.EscapeString(pl.title))
		ymin, ymax := math.Inf(1), 0.0
		for _, se := range pl.series {
			for _, sp := range r.Scaling {
				if _, lo, hi, ok := se.value(sp); ok && sp.System == se.system {
					ymax = math.Max(ymax, hi)
					ymin = math.Min(ymin, lo)
				}
			}
		}
		xpos := func(n int) float64 { return float64(pl.x0) + 30 + float64(pw-60)*math.Log10(float64(n))/4 }
		var ypos func(v float64) float64
		var ticks []float64
		if pl.logY {
			// Decades around the data: 1 ms .. 1 s and wider as needed.
			lo, hi := math.Min(0, math.Floor(math.Log10(math.Max(ymin, 1e-3)))), math.Max(3, math.Ceil(math.Log10(math.Max(ymax, 1))))
			ypos = func(v float64) float64 {
				return float64(top+ph) - float64(ph)*(math.Log10(math.Max(v, 1e-3))-lo)/(hi-lo)
			}
			for e := lo; e <= hi; e++ {
				ticks = append(ticks, math.Pow(10, e))
			}
		} else {
			ymax = niceCeil(ymax * 1.1)
			ypos = func(v float64) float64 { return float64(top+ph) - float64(ph)*v/ymax }
			for i := 0; i <= 4; i++ {
				ticks = append(ticks, ymax*float64(i)/4)
			}
		}
		p(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#ccc"/>`, pl.x0, top, pw, ph)
		for _, v := range ticks {
			p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, pl.x0, ypos(v), pl.x0+pw, ypos(v))
			p(`<text x="%d" y="%.1f" text-anchor="end" fill="#555">%s</text>`, pl.x0-4, ypos(v)+4, shortNum(v))
		}
		for _, n := range scalingN {
			p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#555">N=%s</text>`, xpos(n), top+ph+16, thousands(float64(n)))
		}
		if pl.logY {
			// The goal: publishing one port at N=10,000 in 5 ms or less.
			p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ee7733" stroke-dasharray="4 3"/>`, pl.x0, ypos(5), pl.x0+pw, ypos(5))
			p(`<text x="%d" y="%.1f" text-anchor="end" fill="#ee7733">goal 5 ms</text>`, pl.x0+pw-4, ypos(5)-4)
		}
		ly := top + ph + 34
		for i, se := range pl.series {
			var pts []string
			missing := ""
			for _, sp := range r.Scaling {
				if sp.System != se.system {
					continue
				}
				v, lo, hi, ok := se.value(sp)
				if !ok {
					missing = sp.Status
					continue
				}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xpos(sp.N), ypos(v)))
				p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`, xpos(sp.N), ypos(lo), xpos(sp.N), ypos(hi), se.color)
				p(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s N=%d: %s</title></circle>`, xpos(sp.N), ypos(v), se.color, se.label, sp.N, shortNum(v))
			}
			if len(pts) > 1 {
				p(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>`, strings.Join(pts, " "), se.color, se.dash)
			}
			label := se.label
			if len(pts) == 0 {
				if missing == "" || missing == "ok" {
					missing = "no data"
				}
				label += ": " + missing
			}
			lx := pl.x0 + (i%2)*190
			lyy := ly + (i/2)*16
			p(`<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`,
				lx, lyy, se.color, lx+14, lyy+9, html.EscapeString(label))
		}
	}
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

func shortNum(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}
