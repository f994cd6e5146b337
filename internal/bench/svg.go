package bench

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
	"time"
)

// The plot's geometry, in pixels: one panel per server (columns) and mode
// (rows), each a latency chart above a strip of live generations.
const (
	panelW, panelH = 420, 210
	plotX, plotY   = 46, 34 // the chart's corner inside its panel
	plotW, plotH   = 360, 120
	stripY, stripH = plotY + plotH + 12, 28
	headerH        = 64
)

// The latency axis is logarithmic, from 0.1 ms to 10 s.
const logLo, logHi = -1.0, 4.0 // log10 of milliseconds

// SVG draws each run's latency over time, with its upgrades marked: per
// 100 ms, the median and the 99th percentile of the answered requests,
// the failed requests in red, and below, the live generations.
func (rep *Report) SVG() string { return rep.latencySVG(rep.Results) }

// H3SVG is SVG for the h3 mode's runs.
func (rep *Report) H3SVG() string { return rep.latencySVG(rep.H3) }

func (rep *Report) latencySVG(results []Result) string {
	var servers []string
	var modes []Mode
	for _, r := range results {
		if !slices.Contains(servers, r.Server) {
			servers = append(servers, r.Server)
		}
		if !slices.Contains(modes, r.Mode) {
			modes = append(modes, r.Mode)
		}
	}
	w, h := max(len(servers), 1)*panelW+20, headerH+max(len(modes), 1)*panelH+10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15" font-weight="bold">Latency while upgrading: %d upgrades per run at %d requests/s</text>`+"\n", rep.Upgrades, rep.Rate)
	fmt.Fprintf(&b, `<text x="10" y="37" fill="#555">%s</text>`+"\n", html.EscapeString(rep.Machine))
	legend := []struct{ color, label string }{
		{"#9aa5b1", "p50 per 100 ms"}, {"#1f6fd1", "p99 per 100 ms"}, {"#f08c00", "upgrade requested"},
		{"#d11f1f", "failed requests (bar height: log of count)"}, {"#2b8a3e", "live generations"},
	}
	x := 10
	for _, l := range legend {
		fmt.Fprintf(&b, `<rect x="%d" y="46" width="12" height="8" fill="%s"/><text x="%d" y="54">%s</text>`+"\n", x, l.color, x+16, l.label)
		x += 22 + 6*len(l.label)
	}
	for i, r := range results {
		col, row := slices.Index(servers, r.Server), slices.Index(modes, r.Mode)
		fmt.Fprintf(&b, `<g transform="translate(%d,%d)">`+"\n", 10+col*panelW, headerH+row*panelH)
		panel(&b, &results[i])
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// panel draws one run at the origin.
func panel(b *strings.Builder, r *Result) {
	title, sub := fmt.Sprintf("%s · %s", r.Server, r.Mode), ""
	switch {
	case r.Skipped != "":
		sub = "skipped: " + r.Skipped
	case r.Err != "":
		sub = "error: " + r.Err
	default:
		sub = fmt.Sprintf("%d failed of %d · p99 %s · max %s · %d upgrades", r.Load.Failed(), r.Load.Requests, ms(r.Load.P99), ms(r.Load.Max), len(r.Upgrades))
	}
	color := "#222"
	if r.Load.Failed() > 0 || r.Err != "" {
		color = "#d11f1f"
	}
	fmt.Fprintf(b, `<text x="%d" y="13" font-weight="bold">%s</text>`+"\n", plotX, html.EscapeString(title))
	fmt.Fprintf(b, `<text x="%d" y="27" fill="%s">%s</text>`+"\n", plotX, color, html.EscapeString(trim(sub, 64)))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#fafafa" stroke="#ccc"/>`+"\n", plotX, plotY, plotW, plotH)
	for e := int(logLo); e <= int(logHi); e++ {
		y := latencyY(math.Pow(10, float64(e)))
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e4e4e4"/><text x="%d" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n",
			plotX, plotX+plotW, y, y, plotX-4, y+4, axisLabel(e))
	}
	if r.Skipped != "" || len(r.Load.Series) == 0 {
		return
	}
	span := r.Load.Series[len(r.Load.Series)-1].T + 100*time.Millisecond
	for _, p := range r.Procs {
		span = max(span, p.T)
	}
	tx := func(t time.Duration) float64 { return plotX + float64(plotW)*float64(t)/float64(span) }
	step := 5 // seconds between labels: eight labels at most
	for _, st := range []int{5, 10, 20, 30, 60, 120, 300} {
		if step = st; span <= time.Duration(8*st)*time.Second {
			break
		}
	}
	for s := 0; time.Duration(s)*time.Second <= span; s += step {
		x := tx(time.Duration(s) * time.Second)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%ds</text>`+"\n", x, stripY+stripH+12, s)
	}
	for _, u := range r.Upgrades {
		x := tx(u.At.Sub(r.Load.Start))
		stroke := "#f08c00"
		if u.Err != "" {
			stroke = "#000"
		}
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-opacity="0.45"/>`+"\n", x, x, plotY, plotY+plotH, stroke)
	}
	for _, bk := range r.Load.Series {
		if bk.Failed == 0 {
			continue
		}
		hgt := min(float64(plotH), 12*(1+math.Log10(float64(bk.Failed))))
		fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%.1f" height="%.1f" fill="#d11f1f"/>`+"\n",
			tx(bk.T), plotY, max(1.5, tx(bk.T+100*time.Millisecond)-tx(bk.T)), hgt)
	}
	line := func(color string, width float64, value func(Bucket) time.Duration) {
		var pts []string
		for _, bk := range r.Load.Series {
			if v := value(bk); v > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", tx(bk.T+50*time.Millisecond), latencyY(float64(v)/float64(time.Millisecond))))
			}
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="%.1f" points="%s"/>`+"\n", color, width, strings.Join(pts, " "))
	}
	line("#9aa5b1", 1, func(bk Bucket) time.Duration { return bk.P50 })
	line("#1f6fd1", 1.2, func(bk Bucket) time.Duration { return bk.P99 })

	// The strip of live generations, 0 to 4.
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#f4f9f4" stroke="#ccc"/>`+"\n", plotX, stripY, plotW, stripH)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end" fill="#2b8a3e">gens</text>`+"\n", plotX-4, stripY+stripH/2+4)
	var pts []string
	gy := func(n int) float64 { return float64(stripY+stripH) - float64(stripH)*float64(min(n, 4))/4.5 }
	for i, p := range r.Procs {
		x := tx(p.T)
		if i > 0 {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, gy(r.Procs[i-1].Generations)))
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, gy(p.Generations)))
	}
	fmt.Fprintf(b, `<polyline fill="none" stroke="#2b8a3e" stroke-width="1.2" points="%s"/>`+"\n", strings.Join(pts, " "))
}

// latencyY places a latency in milliseconds on the chart, clipped to it.
func latencyY(msec float64) float64 {
	l := math.Log10(max(msec, 1e-3))
	l = min(max(l, logLo), logHi)
	return plotY + plotH*(1-(l-logLo)/(logHi-logLo))
}

func axisLabel(exp int) string {
	switch {
	case exp < 0:
		return "0.1ms"
	case exp < 3:
		return fmt.Sprintf("%.0fms", math.Pow(10, float64(exp)))
	}
	return fmt.Sprintf("%.0fs", math.Pow(10, float64(exp-3)))
}

// trim cuts s to n runes.
func trim(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
