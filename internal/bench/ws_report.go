package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ModeWS is long-lived connections through upgrades: WebSockets through
// an HTTP reverse proxy and TCP streams through a TCP proxy, to echo
// backends in a helper process, while the proxy upgrades again and again.
// It compares flipd handing the connections over, flipd draining them
// ("move_connections": false), and nginx, whose old workers keep theirs
// until worker_shutdown_timeout. Not among the default modes.
const ModeWS Mode = "ws"

// Defaults of the ws mode.
const (
	defaultWSConns   = 200
	defaultWSStreams = 20
	defaultWSDrain   = 10 * time.Second
	defaultWSBudget  = 3 * time.Minute
	// wsEvery is the time between two messages of one WebSocket.
	wsEvery = 100 * time.Millisecond
)

// WSResult is one server in the ws mode: long-lived connections while it
// upgrades.
type WSResult struct {
	Server  string `json:"server"`
	Note    string `json:"note,omitempty"`
	Skipped string `json:"skipped,omitempty"`
	Err     string `json:"err,omitempty"`
	Conns   int    `json:"conns"`
	Streams int    `json:"streams"`
	// Drain is the server's limit on an old generation: flipd's
	// drain_timeout, nginx's worker_shutdown_timeout.
	Drain time.Duration `json:"drain"`
	// Budget bounds the time the run may spend upgrading.
	Budget time.Duration `json:"budget"`
	// Start is when the client had opened its connections: the origin
	// of Procs and of the plot.
	Start    time.Time    `json:"start"`
	Load     WSLoadResult `json:"load"`
	Backend  EchoResult   `json:"backend"`
	Upgrades []Upgrade    `json:"upgrades"`
	// OpenAtUpgrade is, for each upgrade, the connections open when it
	// started: all of them, unless some could not be opened again.
	OpenAtUpgrade []int        `json:"open_at_upgrade"`
	Procs         []ProcSample `json:"procs"`
}

// WSGoalLived is the ws mode's goal for an old generation's life after
// its handover, at the median.
const WSGoalLived = 100 * time.Millisecond

// Lived is how long each old generation lived after its handover, sorted:
// from the answer to the reload (for nginx: the new master's workers
// running) to the old process's exit, seen through a pidfd.
func (r *WSResult) Lived() []time.Duration {
	var out []time.Duration
	for _, u := range r.Upgrades {
		if u.Err == "" && u.Exited > 0 {
			out = append(out, u.Exited-u.Ready)
		}
	}
	slices.Sort(out)
	return out
}

// minOpen is the fewest connections open when an upgrade started.
func (r *WSResult) minOpen() int {
	if len(r.OpenAtUpgrade) == 0 {
		return 0
	}
	return slices.Min(r.OpenAtUpgrade)
}

// lostConns is every connection lost, WebSockets and streams.
func (r *WSResult) lostConns() int { return r.Load.WS.Lost + r.Load.TCP.Lost }

// lostData is every message or byte lost, doubled, out of order or wrong.
func (r *WSResult) lostData() (msgs, faults int, bytes int64) {
	m := r.Load.Messages
	return m.Lost(), m.Duplicate + m.Reordered + m.Unsent + r.Load.WrongEchoes + sumFaults(r.Load.StreamFaults), r.Load.BytesLost
}

func sumFaults(m map[streamVerdict]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// ran says whether the run happened: connections opened and upgrades done.
func (r *WSResult) ran() bool {
	return r.Skipped == "" && r.Err == "" && len(r.Upgrades) > 0 && r.Load.WS.Opened+r.Load.TCP.Opened > 0
}

// isFlipd says whether the result is flipd's own way, with handover: the
// run that must lose nothing.
func (r *WSResult) isFlipd() bool { return r.Server == "flipd" }

// failures lists what went wrong in flipd's handover run.
func (r *WSResult) failures() []string {
	var out []string
	if r.Err != "" {
		return []string{fmt.Sprintf("%s: %s", ModeWS, r.Err)}
	}
	if n := r.lostConns(); n > 0 {
		out = append(out, fmt.Sprintf("%s: %d connections lost (websockets: %s; tcp streams: %s) %v %v", ModeWS, n,
			byHow(r.Load.WS.LostBy), byHow(r.Load.TCP.LostBy), r.Load.WS.Examples, r.Load.TCP.Examples))
	}
	if msgs, faults, bytes := r.lostData(); msgs+faults > 0 || bytes > 0 {
		out = append(out, fmt.Sprintf("%s: %d messages lost, %d duplicated, reordered or wrong, %d stream bytes lost", ModeWS, msgs, faults, bytes))
	}
	for _, u := range r.Upgrades {
		if u.Err != "" {
			out = append(out, fmt.Sprintf("%s: upgrade %d: %s", ModeWS, u.Index, u.Err))
		}
	}
	return out
}

// byHow spells out losses by how: "close 1001 3, eof 2", or "none".
func byHow(m map[string]int) string {
	var keys []string
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// line is a one-line account of a result, for progress logs.
func (r *WSResult) line() string {
	switch {
	case r.Skipped != "":
		return "skipped: " + r.Skipped
	case r.Err != "":
		return "error: " + r.Err
	}
	lived := r.Lived()
	msgs, faults, bytes := r.lostData()
	line := fmt.Sprintf("%d upgrades; lost %d of %d websockets (%s), %d of %d streams (%s); %d messages lost, %d wrong, %d bytes lost; "+
		"old generation lived %s / %s / %s (p50 / p95 / max)", len(r.Upgrades),
		r.Load.WS.Lost, r.Load.WS.Opened, byHow(r.Load.WS.LostBy), r.Load.TCP.Lost, r.Load.TCP.Opened, byHow(r.Load.TCP.LostBy),
		msgs, faults, bytes, ms(Percentile(lived, 0.5)), ms(Percentile(lived, 0.95)), ms(lastMax(lived)))
	for _, ex := range append(r.Load.WS.Examples[:min(1, len(r.Load.WS.Examples))], r.Load.TCP.Examples[:min(1, len(r.Load.TCP.Examples))]...) {
		line += "\n    e.g. " + ex
	}
	return line
}

// wsMarkdown is the ws mode's table.
func (rep *Report) wsMarkdown(b *strings.Builder) {
	if len(rep.WS) == 0 {
		return
	}
	r0 := rep.WS[0]
	fmt.Fprintf(b, "\nLong-lived connections (mode ws): %d WebSockets through the HTTP reverse proxy, each sending a numbered 64-byte message every %v "+
		"and checking its echo, and %d TCP streams through the TCP proxy, each writing a counter stream (4 KiB every 20 ms) and checking its echo byte for byte, "+
		"to echo backends in another process; %d upgrades, one every %v or later: each starts once the previous old generation has exited "+
		"and every connection is open again (counted in /proc/net/tcp), so that each old generation holds all of them when it hands over; "+
		"within %v per server. "+
		"flipd ran supervised (`%s`) and was upgraded as in the other modes (`POST /load`, every fourth a `POST /upgrade`). "+
		"A connection is lost when it ends other than by the client at the end (it is then opened again); \"lived\" is from the reload's answer "+
		"(nginx: the new master's workers running) to the old generation's exit, seen through a pidfd.\n\n",
		r0.Conns, wsEvery, r0.Streams, rep.Upgrades, rep.Interval, r0.Budget, rep.FlipdCommand)
	b.WriteString("| server | setup | upgrades | websockets lost | streams lost | messages lost | dup / reordered / wrong | stream bytes lost | echo p50 / p99 | old generation lived p50 / p95 / max |\n")
	b.WriteString("|---|---|---:|---|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.WS {
		if r.Skipped != "" || r.Err != "" {
			fmt.Fprintf(b, "| %s | %s | %s |||||||||\n", r.Server, r.Note, strings.ReplaceAll(r.line(), "\n", " "))
			continue
		}
		lived := r.Lived()
		m := r.Load.Messages
		upgrades := fmt.Sprintf("%d", len(r.Upgrades))
		if len(r.Upgrades) < rep.Upgrades {
			upgrades += fmt.Sprintf(" of %d (%v)", rep.Upgrades, r.Budget)
		}
		if n, want := r.minOpen(), r.Conns+r.Streams; n < want {
			upgrades += fmt.Sprintf("; as few as %d of %d connections open at one", n, want)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %d of %d | %d / %d / %d | %d of %d | %s / %s | %s / %s / %s |\n",
			r.Server, r.Note, upgrades,
			lostCell(r.Load.WS), lostCell(r.Load.TCP), m.Lost(), m.Sent, m.Duplicate, m.Reordered, m.Unsent+r.Load.WrongEchoes+sumFaults(r.Load.StreamFaults),
			r.Load.BytesLost, r.Load.BytesWritten, ms(r.Load.RTTP50), ms(r.Load.RTTP99),
			ms(Percentile(lived, 0.5)), ms(Percentile(lived, 0.95)), ms(lastMax(lived)))
	}
}

// lostCell is "0 of 200", or "**12** of 212: close 1001 12".
func lostCell(s ConnStats) string {
	if s.Lost == 0 {
		return fmt.Sprintf("0 of %d", s.Opened)
	}
	cell := fmt.Sprintf("**%d** of %d: %s", s.Lost, s.Opened, byHow(s.LostBy))
	if s.DialFailed > 0 {
		cell += fmt.Sprintf("; %d reconnects failed", s.DialFailed)
	}
	return cell
}

// wsChecks judges flipd's handover run against the ws mode's goals.
func (rep *Report) wsChecks() []Check {
	i := slices.IndexFunc(rep.WS, func(r WSResult) bool { return r.isFlipd() })
	if i < 0 {
		return nil
	}
	r := &rep.WS[i]
	ran := r.ran()
	why := ""
	if !ran {
		why = " (the run did not happen: " + trim(r.line(), 200) + ")"
	}
	msgs, faults, bytes := r.lostData()
	lived := r.Lived()
	return []Check{
		{fmt.Sprintf("ws: 0 connections lost, %d WebSockets and %d TCP streams through %d upgrades", r.Conns, r.Streams, rep.Upgrades),
			fmt.Sprintf("%d of %d WebSockets (%s), %d of %d streams (%s); %d upgrades%s", r.Load.WS.Lost, r.Load.WS.Opened, byHow(r.Load.WS.LostBy),
				r.Load.TCP.Lost, r.Load.TCP.Opened, byHow(r.Load.TCP.LostBy), len(r.Upgrades), why),
			ran && r.lostConns() == 0 && len(r.Upgrades) == rep.Upgrades},
		{"ws: 0 messages lost (nor duplicated, reordered or wrong; stream bytes exact)",
			fmt.Sprintf("%d of %d messages lost, %d duplicated, reordered or wrong; %d of %d stream bytes lost%s",
				msgs, r.Load.Messages.Sent, faults, bytes, r.Load.BytesWritten, why),
			ran && msgs == 0 && faults == 0 && bytes == 0},
		{fmt.Sprintf("ws: old generations gone < %v after their handover, at the median", WSGoalLived),
			fmt.Sprintf("p50 %s, p95 %s, max %s (%d generations)%s", ms(Percentile(lived, 0.5)), ms(Percentile(lived, 0.95)), ms(lastMax(lived)), len(lived), why),
			ran && len(lived) > 0 && Percentile(lived, 0.5) < WSGoalLived},
	}
}
