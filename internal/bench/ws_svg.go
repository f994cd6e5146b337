package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
	"time"
)

// The ws plot's geometry: one panel per server, one under the other.
const (
	wsPanelW, wsPanelH = 860, 215
	wsPlotW            = 760
)

// The lifetime axis is logarithmic, from 1 ms to 100 s.
const wsLogLo, wsLogHi = 0.0, 5.0 // log10 of milliseconds

// WSSVG draws the ws mode: for each server, over the run's time, each
// upgrade (a line) and how long its old generation lived after the
// handover (a dot, log scale), the connections lost each second (red
// bars), and below, the live generations.
func (rep *Report) WSSVG() string {
	w, h := wsPanelW+20, headerH+max(len(rep.WS), 1)*wsPanelH+10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	title := "Long-lived connections while upgrading"
	if len(rep.WS) > 0 {
		title += fmt.Sprintf(": %d WebSockets and %d TCP streams, %d upgrades", rep.WS[0].Conns, rep.WS[0].Streams, rep.Upgrades)
	}
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="10" y="37" fill="#555">%s</text>`+"\n", html.EscapeString(rep.Machine))
	legend := []struct{ color, label string }{
		{"#f08c00", "upgrade"}, {"#1f6fd1", "old generation's life after handover (log scale)"},
		{"#d11f1f", "connections lost per second (log of count)"}, {"#2b8a3e", "live generations"},
	}
	x := 10
	for _, l := range legend {
		fmt.Fprintf(&b, `<rect x="%d" y="46" width="12" height="8" fill="%s"/><text x="%d" y="54">%s</text>`+"\n", x, l.color, x+16, l.label)
		x += 28 + 6*len(l.label)
	}
	for i := range rep.WS {
		fmt.Fprintf(&b, `<g transform="translate(10,%d)">`+"\n", headerH+i*wsPanelH)
		wsPanel(&b, &rep.WS[i])
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// wsPanel draws one server's run at the origin.
func wsPanel(b *strings.Builder, r *WSResult) {
	sub, color := "", "#222"
	switch {
	case r.Skipped != "":
		sub = "skipped: " + r.Skipped
	case r.Err != "":
		sub, color = "error: "+r.Err, "#d11f1f"
	default:
		lived := r.Lived()
		msgs, faults, _ := r.lostData()
		sub = fmt.Sprintf("%d upgrades · %d connections lost · %d messages lost, %d wrong · old generation lived p50 %s, max %s",
			len(r.Upgrades), r.lostConns(), msgs, faults, ms(Percentile(lived, 0.5)), ms(lastMax(lived)))
		if r.lostConns()+msgs+faults > 0 {
			color = "#d11f1f"
		}
	}
	fmt.Fprintf(b, `<text x="%d" y="13" font-weight="bold">%s</text>`+"\n", plotX, html.EscapeString(r.Server+" · "+r.Note))
	fmt.Fprintf(b, `<text x="%d" y="27" fill="%s">%s</text>`+"\n", plotX, color, html.EscapeString(trim(sub, 130)))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#fafafa" stroke="#ccc"/>`+"\n", plotX, plotY, wsPlotW, plotH)
	for e := int(wsLogLo); e <= int(wsLogHi); e++ {
		y := wsLivedY(math.Pow(10, float64(e)))
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e4e4e4"/><text x="%d" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n",
			plotX, plotX+wsPlotW, y, y, plotX-4, y+4, axisLabel(e))
	}
	if r.Start.IsZero() {
		return
	}
	span := 10 * time.Second
	for _, p := range r.Procs {
		span = max(span, p.T)
	}
	tx := func(t time.Duration) float64 {
		return plotX + float64(wsPlotW)*float64(min(max(t, 0), span))/float64(span)
	}
	step := 5
	for _, st := range []int{5, 10, 20, 30, 60, 120, 300} {
		if step = st; span <= time.Duration(12*st)*time.Second {
			break
		}
	}
	for s := 0; time.Duration(s)*time.Second <= span; s += step {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%ds</text>`+"\n", tx(time.Duration(s)*time.Second), stripY+stripH+12, s)
	}
	for _, u := range r.Upgrades {
		x := tx(u.At.Sub(r.Start))
		stroke := "#f08c00"
		if u.Err != "" {
			stroke = "#000"
		}
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-opacity="0.35"/>`+"\n", x, x, plotY, plotY+plotH, stroke)
		if u.Err == "" && u.Exited > 0 {
			lived := float64(u.Exited-u.Ready) / float64(time.Millisecond)
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="#1f6fd1"/>`+"\n", x, wsLivedY(lived))
		}
	}
	for _, bk := range r.Load.Series {
		n := bk.WSLost + bk.TCPLost
		if n == 0 {
			continue
		}
		t := r.Load.Start.Add(bk.T).Sub(r.Start)
		hgt := min(float64(plotH), 12*(1+math.Log10(float64(n))))
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#d11f1f" fill-opacity="0.8"/>`+"\n",
			tx(t), float64(plotY+plotH)-hgt, max(1.5, tx(t+time.Second)-tx(t)), hgt)
	}
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#f4f9f4" stroke="#ccc"/>`+"\n", plotX, stripY, wsPlotW, stripH)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end" fill="#2b8a3e">gens</text>`+"\n", plotX-4, stripY+stripH/2+4)
	var pts []string
	gy := func(n int) float64 { return float64(stripY+stripH) - float64(stripH)*float64(min(n, 4))/4.5 }
	for i, p := range r.Procs {
		if i > 0 {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", tx(p.T), gy(r.Procs[i-1].Generations)))
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", tx(p.T), gy(p.Generations)))
	}
	fmt.Fprintf(b, `<polyline fill="none" stroke="#2b8a3e" stroke-width="1.2" points="%s"/>`+"\n", strings.Join(pts, " "))
}

// wsLivedY places a lifetime in milliseconds on the chart, clipped to it.
func wsLivedY(msec float64) float64 {
	l := math.Log10(max(msec, 1e-3))
	l = min(max(l, wsLogLo), wsLogHi)
	return plotY + plotH*(1-(l-wsLogLo)/(wsLogHi-wsLogLo))
}
