package bench

import (
	"fmt"
	"slices"
	"strings"
)

// h3NoForward is the h3 mode's flipd with QUIC forwarding switched off.
const h3NoForward = "flipd, no forwarding"

// h3Target is one server of the h3 mode.
type h3Target struct {
	label, note string
	forward     bool
}

// h3Targets are flipd as configured by default (QUIC forwarding on) and
// flipd with "http3_forward": false, which must show failures.
var h3Targets = []h3Target{
	{"flipd", `"http3": true, tls wrapper; QUIC forwarding on (the default)`, true},
	{h3NoForward, `"http3": true, tls wrapper, "http3_forward": false`, false},
}

// defaultH3Conns is the h3 mode's QUIC connections.
const defaultH3Conns = 16

// h3Setup says how each h3 server was set up, for the table.
func h3Setup(server string) string {
	for _, t := range h3Targets {
		if t.label == server {
			return t.note
		}
	}
	return ""
}

// h3ConnsLine is a one-line account of the QUIC connections.
func h3ConnsLine(c *QUICConnStats) string {
	line := fmt.Sprintf("%d opened, %d closed cleanly, %d lost (%s), %d open at the end, %d dials failed, %d GOAWAY race retries",
		c.Opened, c.Closed, c.Lost, byHow(c.LostBy), c.Open, c.DialFailed, c.GoawayRetries)
	if len(c.Examples) > 0 {
		line += "; e.g. " + c.Examples[0]
	}
	return line
}

// h3Lost is the connections a run lost, or -1 if it did not count them.
func h3Lost(r *Result) int {
	if r.Load.Conns == nil {
		return -1
	}
	return r.Load.Conns.Lost
}

// h3Markdown is the h3 mode's table.
func (rep *Report) h3Markdown(b *strings.Builder) {
	if len(rep.H3) == 0 {
		return
	}
	fmt.Fprintf(b, "\nHTTP/3 (mode h3): POSTs at %d requests/s from another process over %d long-lived QUIC connections (quic-go's HTTP/3 client, "+
		"each connection on its own UDP socket, 5 s idle timeout), to a listener with `\"http3\": true` and the tls wrapper; "+
		"%d upgrades, one every %v or later, as in the other modes. A connection is lost when it ends before the end of the run other than "+
		"by a close with H3_NO_ERROR (the draining generation's, after its GOAWAY) that failed no request. "+
		"\"GOAWAY race retries\" are requests sent again because quic-go's client closed a connection itself as a GOAWAY arrived, "+
		"before the request was written.\n\n", rep.Rate, rep.H3Conns, rep.Upgrades, rep.Interval)
	b.WriteString("| server | setup | requests | failed | p50 | p99 | p99.9 | max | connections opened / closed cleanly / lost | GOAWAY race retries | upgrades ok | ready p50 / max | old gone p50 / max |\n")
	b.WriteString("|---|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|\n")
	for _, r := range rep.H3 {
		if r.Skipped != "" || r.Err != "" || r.Load.Conns == nil {
			fmt.Fprintf(b, "| %s | %s | %s |||||||||||\n", r.Server, h3Setup(r.Server), strings.ReplaceAll(r.line(), "\n", " "))
			continue
		}
		ok, ready, exited := upgradeStats(r.Upgrades)
		failed := "0"
		if n := r.Load.Failed(); n > 0 {
			failed = fmt.Sprintf("**%d**: %s", n, failures(r.Load.Failures))
		}
		c := r.Load.Conns
		lost := "0"
		if c.Lost > 0 {
			lost = fmt.Sprintf("**%d** (%s)", c.Lost, byHow(c.LostBy))
		}
		fmt.Fprintf(b, "| %s | %s | %d | %s | %s | %s | %s | %s | %d / %d / %s | %d | %d/%d | %s / %s | %s / %s |\n",
			r.Server, h3Setup(r.Server), r.Load.Requests, failed, ms(r.Load.P50), ms(r.Load.P99), ms(r.Load.P999), ms(r.Load.Max),
			c.Opened, c.Closed, lost, c.GoawayRetries, ok, len(r.Upgrades),
			ms(Percentile(ready, 0.5)), ms(lastMax(ready)), ms(Percentile(exited, 0.5)), ms(lastMax(exited)))
	}
}

// h3Failures is FlipdFailures of the h3 mode: what went wrong with QUIC
// forwarding on.
func (rep *Report) h3Failures() []string {
	var out []string
	for _, r := range rep.H3 {
		if !r.isFlipd() || r.Skipped != "" {
			continue
		}
		if r.Err != "" {
			out = append(out, fmt.Sprintf("%s: %s", ModeH3, r.Err))
		}
		if n := r.Load.Failed(); n > 0 {
			out = append(out, fmt.Sprintf("%s: %d failed requests (%s) %v", ModeH3, n, failures(r.Load.Failures), r.Load.Examples))
		}
		if c := r.Load.Conns; c != nil && c.Lost > 0 {
			out = append(out, fmt.Sprintf("%s: %d QUIC connections lost (%s) %v", ModeH3, c.Lost, byHow(c.LostBy), c.Examples))
		}
		if r.Err == "" && r.Load.Conns == nil {
			out = append(out, fmt.Sprintf("%s: the load generator did not count its connections", ModeH3))
		}
		for _, u := range r.Upgrades {
			if u.Err != "" {
				out = append(out, fmt.Sprintf("%s: upgrade %d: %s", ModeH3, u.Index, u.Err))
			}
		}
	}
	return out
}

// h3Checks judges the h3 mode: flipd fails no request and loses no QUIC
// connection; without forwarding it does, so the benchmark can tell.
func (rep *Report) h3Checks() []Check {
	var out []Check
	if i := slices.IndexFunc(rep.H3, func(r Result) bool { return r.isFlipd() }); i >= 0 {
		r := &rep.H3[i]
		ok, _, _ := upgradeStats(r.Upgrades)
		measured := fmt.Sprintf("%d failed of %d requests (%s); QUIC connections lost: %d; %d/%d upgrades",
			r.Load.Failed(), r.Load.Requests, failures(r.Load.Failures), max(h3Lost(r), 0), ok, len(r.Upgrades))
		if r.Skipped != "" || r.Err != "" {
			measured = "did not run: " + trim(r.line(), 200)
		}
		out = append(out, Check{fmt.Sprintf("h3: 0 failed requests, 0 QUIC connections lost, HTTP/3 POSTs through %d upgrades at %d requests/s", rep.Upgrades, rep.Rate),
			measured, r.Skipped == "" && r.Err == "" && r.Load.Requests > 0 && r.Load.Failed() == 0 && h3Lost(r) == 0 &&
				ok == rep.Upgrades && len(r.Upgrades) == rep.Upgrades})
	}
	if i := slices.IndexFunc(rep.H3, func(r Result) bool { return r.Server == h3NoForward }); i >= 0 {
		r := &rep.H3[i]
		out = append(out, Check{"h3 with QUIC forwarding off shows failures (the benchmark can tell)",
			fmt.Sprintf("%d failed requests (%s), %d QUIC connections lost", r.Load.Failed(), failures(r.Load.Failures), max(h3Lost(r), 0)),
			r.Load.Failed()+max(h3Lost(r), 0) > 0})
	}
	return out
}
