package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Report is everything one benchmark run measured.
type Report struct {
	Started time.Time     `json:"started"`
	Took    time.Duration `json:"took"`
	Machine string        `json:"machine"`
	// Load is the machine's load average (1, 5, 15 minutes) when the
	// benchmark started and ended: other work on the machine shows there.
	Load  [2]string `json:"load"`
	Nginx string    `json:"nginx,omitempty"`
	// Peers are the other servers compared (Caddy, HAProxy), by name,
	// with their versions.
	Peers map[string]string `json:"peers,omitempty"`
	// Memory is each server's resident memory, idle and with many idle
	// connections.
	Memory []MemoryRow `json:"memory,omitempty"`
	// FlipdCommand is how flipd ran: supervised, as users run it.
	FlipdCommand string        `json:"flipd_command,omitempty"`
	Upgrades     int           `json:"upgrades"`
	Rate         int           `json:"rate"`
	Conns        int           `json:"conns"`
	Interval     time.Duration `json:"interval"`
	Notes        []string      `json:"notes,omitempty"`
	Results      []Result      `json:"results"`
	// WS is the ws mode: long-lived connections through upgrades.
	WS []WSResult `json:"ws,omitempty"`
	// H3 is the h3 mode: HTTP/3 connections through upgrades, with
	// QUIC forwarding and without.
	H3      []Result `json:"h3,omitempty"`
	H3Conns int      `json:"h3_conns,omitempty"`
	Targets *Targets `json:"targets,omitempty"`
}

// Targets are the measurements beyond zero failures.
type Targets struct {
	// IdleRSS is the first generation's resident memory, idle;
	// IdleRSSUpgraded that of a generation started by an upgrade.
	IdleRSS         int64 `json:"idle_rss"`
	IdleRSSUpgraded int64 `json:"idle_rss_upgraded"`
	// RoundTrip is POST /load with 10 listeners.
	RoundTrip ScalePoint `json:"round_trip"`
	// Scaling is the upgrade with 10, 100 and 1,000 listeners.
	Scaling []ScalePoint `json:"scaling"`
	// Throughput is flipd, the bare net/http server, and the bare one
	// with flipd's layers added, in closed loop; the first two are what
	// the target compares.
	Throughput       []ThroughputSide `json:"throughput"`
	ThroughputConns  int              `json:"throughput_conns"`
	ThroughputPinned bool             `json:"throughput_pinned"`
	Idle             *IdleDrain       `json:"idle,omitempty"`
	// Reload is the POST /load round trip against an empty Go binary's
	// start (reload_report.go).
	Reload *ReloadCost `json:"reload,omitempty"`
	// LibScaling is the library benchmark's 1,000 listeners against 4
	// (libscale_linux.go).
	LibScaling *LibScaling `json:"lib_scaling,omitempty"`
	// Only names the targets measured, if not all were (Options.OnlyTargets).
	Only []string `json:"only,omitempty"`
	// ThroughputSlice is how long each round measures each server.
	ThroughputSlice time.Duration `json:"throughput_slice,omitempty"`
	// ThroughputSets is how many sets of fresh processes shared the
	// throughput's cycles and the CPU time's rounds.
	ThroughputSets int `json:"throughput_sets,omitempty"`
	// Shared is flipd and bare net/http, then two twins of bare
	// net/http (the control), then bare net/http behind the drain and a
	// third twin, each pair measured at once on one core (shared.go),
	// each server in one pair: what the CPU time target compares, and how
	// much of it is the drain's.
	Shared      [][2]ThroughputSide `json:"shared,omitempty"`
	SharedRound time.Duration       `json:"shared_round,omitempty"`
}

// measured reports whether the target named key was measured.
func (t *Targets) measured(key string) bool {
	return len(t.Only) == 0 || slices.Contains(t.Only, key)
}

// ScalePoint is the cost of upgrades with a number of listeners.
type ScalePoint struct {
	Listeners int `json:"listeners"`
	N         int `json:"n"`
	// Ready is the POST /load round trip; Exited until the old
	// generation exited.
	ReadyP50  time.Duration `json:"ready_p50"`
	ReadyP99  time.Duration `json:"ready_p99"`
	ReadyMax  time.Duration `json:"ready_max"`
	ExitedP50 time.Duration `json:"exited_p50"`
	RSS       int64         `json:"rss"`
}

// IdleDrain is an upgrade with many idle keep-alive connections.
type IdleDrain struct {
	Conns        int           `json:"conns"`
	DrainTimeout time.Duration `json:"drain_timeout"`
	Ready        time.Duration `json:"ready"`
	// Exited is from the request until the old generation exited; 0 if
	// it did not within a minute.
	Exited       time.Duration `json:"exited"`
	RSSWithConns int64         `json:"rss_with_conns"`
	Result       IdleResult    `json:"result"`
}

// isFlipd says whether a result is flipd's own upgrade (not nginx, not
// the naive restart): the runs that must not fail a request.
func (r *Result) isFlipd() bool { return r.Server == "flipd" }

// FlipdFailures lists what went wrong in flipd's own runs: failed
// requests, upgrades that failed, runs that did not complete.
func (rep *Report) FlipdFailures() []string {
	out := rep.runFailures()
	for _, r := range rep.WS {
		if r.isFlipd() {
			out = append(out, r.failures()...)
		}
	}
	return append(out, rep.h3Failures()...)
}

// runFailures is FlipdFailures of the load-while-upgrading runs.
func (rep *Report) runFailures() []string {
	var out []string
	for _, r := range rep.Results {
		if !r.isFlipd() || r.Skipped != "" {
			continue
		}
		if r.Err != "" {
			out = append(out, fmt.Sprintf("%s: %s", r.Mode, r.Err))
		}
		if n := r.Load.Failed(); n > 0 {
			out = append(out, fmt.Sprintf("%s: %d failed requests (%s) %v", r.Mode, n, failures(r.Load.Failures), r.Load.Examples))
		}
		for _, u := range r.Upgrades {
			if u.Err != "" {
				out = append(out, fmt.Sprintf("%s: upgrade %d: %s", r.Mode, u.Index, u.Err))
			}
		}
	}
	return out
}

// line is a one-line account of a result, for progress logs.
func (r *Result) line() string {
	switch {
	case r.Skipped != "":
		return "skipped: " + r.Skipped
	case r.Err != "":
		return "error: " + r.Err
	}
	ok, _, _ := upgradeStats(r.Upgrades)
	line := fmt.Sprintf("%d requests, %d failed (%s), %d retries, %d late; p50 %s p99 %s max %s; %d/%d upgrades",
		r.Load.Requests, r.Load.Failed(), failures(r.Load.Failures), r.Load.Retries, r.Load.Late,
		ms(r.Load.P50), ms(r.Load.P99), ms(r.Load.Max), ok, len(r.Upgrades))
	if n := conflicts(r.Upgrades); n > 0 {
		line += fmt.Sprintf(" (%d answered 409 first)", n)
	}
	for _, k := range FailureKinds {
		if ex := r.Load.Examples[k]; len(ex) > 0 {
			line += fmt.Sprintf("\n    %s, e.g. %s", k, ex[0])
		}
	}
	return line
}

// failures spells out failures by kind: "refused 12, reset 3", or "none".
func failures(m map[Kind]int) string {
	var parts []string
	for _, k := range FailureKinds {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// conflicts counts the 409s that upgrades were answered first.
func conflicts(ups []Upgrade) int {
	n := 0
	for _, u := range ups {
		n += u.Conflicts
	}
	return n
}

// upgradeStats counts the successful upgrades and sorts their times.
func upgradeStats(ups []Upgrade) (ok int, ready, exited []time.Duration) {
	for _, u := range ups {
		if u.Err != "" {
			continue
		}
		ok++
		ready = append(ready, u.Ready)
		if u.Exited > 0 {
			exited = append(exited, u.Exited)
		}
	}
	slices.Sort(ready)
	slices.Sort(exited)
	return ok, ready, exited
}

// ms prints a duration in milliseconds, with the digits that matter.
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f == 0:
		return "0"
	case f < 10:
		return fmt.Sprintf("%.2f ms", f)
	case f < 100:
		return fmt.Sprintf("%.1f ms", f)
	}
	return fmt.Sprintf("%.0f ms", f)
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

// lastMax is the largest of sorted, or 0.
func lastMax(sorted []time.Duration) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[len(sorted)-1]
}

// Markdown is the report as the README shows it: the runs' table, then
// the targets.
func (rep *Report) Markdown() string {
	var b strings.Builder
	if len(rep.Results) > 0 {
		fmt.Fprintf(&b, "%d upgrades per run, %d requests/s, %d keep-alive connections; %s", rep.Upgrades, rep.Rate, rep.Conns, rep.Machine)
	} else {
		fmt.Fprintf(&b, "%d upgrades per run; %s", rep.Upgrades, rep.Machine)
	}
	if rep.Nginx != "" {
		fmt.Fprintf(&b, "; nginx %s", rep.Nginx)
	}
	b.WriteString(rep.peersVersions())
	b.WriteString(".\n")
	if rep.Load[0] != "" {
		fmt.Fprintf(&b, "Load average at the start %s, at the end %s.\n", rep.Load[0], rep.Load[1])
	}
	if rep.FlipdCommand != "" && len(rep.Results) > 0 {
		fmt.Fprintf(&b, "flipd ran supervised, the way users run it: `%s`. Its generations are the supervisor's descendants "+
			"(\"generations\" and \"RSS max\" count them, \"supervisor RSS\" is the supervisor's own); "+
			"\"old gone\" is when the old generation exited; the naive restart stops the supervisor (SIGTERM, waits for its exit) "+
			"and starts a new one.\n", rep.FlipdCommand)
	}
	if len(rep.Results) > 0 {
		rep.runsMarkdown(&b)
	}
	rep.wsMarkdown(&b)
	rep.h3Markdown(&b)
	rep.memoryMarkdown(&b)
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "\n%s.\n", n)
	}
	if checks := rep.Checks(); len(checks) > 0 {
		b.WriteString("\n| target | measured | met |\n|---|---|---|\n")
		for _, c := range checks {
			met := "**not met**"
			if c.Met {
				met = "met"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", c.Target, c.Measured, met)
		}
	}
	return b.String()
}

// runsMarkdown is the table of the load-while-upgrading runs.
func (rep *Report) runsMarkdown(b *strings.Builder) {
	b.WriteString("\n| mode | server | requests | failed | client retries | p50 | p99 | p99.9 | max | upgrades ok | ready p50 / max | old gone p50 / max | generations | RSS max | supervisor RSS |\n")
	b.WriteString("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Results {
		if r.Skipped != "" || r.Err != "" {
			fmt.Fprintf(b, "| %s | %s | %s ||||||||||||\n", r.Mode, r.Server, strings.TrimPrefix(r.line(), ""))
			continue
		}
		ok, ready, exited := upgradeStats(r.Upgrades)
		gens, rss, supRSS := 0, int64(0), int64(0)
		for _, p := range r.Procs {
			gens, rss, supRSS = max(gens, p.Generations), max(rss, p.RSS), max(supRSS, p.SupervisorRSS)
		}
		sup := "–"
		if supRSS > 0 {
			sup = mb(supRSS)
		}
		failed := "0"
		if n := r.Load.Failed(); n > 0 {
			failed = fmt.Sprintf("**%d**: %s", n, failures(r.Load.Failures))
		}
		upgrades := fmt.Sprintf("%d/%d", ok, len(r.Upgrades))
		if n := conflicts(r.Upgrades); n > 0 {
			upgrades += fmt.Sprintf(" (%d× 409 first)", n)
		}
		fmt.Fprintf(b, "| %s | %s | %d | %s | %d | %s | %s | %s | %s | %s | %s / %s | %s / %s | %d | %s | %s |\n",
			r.Mode, r.Server, r.Load.Requests, failed, r.Load.Retries, ms(r.Load.P50), ms(r.Load.P99), ms(r.Load.P999), ms(r.Load.Max),
			upgrades, ms(Percentile(ready, 0.5)), ms(lastMax(ready)), ms(Percentile(exited, 0.5)), ms(lastMax(exited)), gens, mb(rss), sup)
	}
}

// Check is one target, and whether it was met.
type Check struct {
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// Checks judges the report against the targets.
func (rep *Report) Checks() []Check {
	var out []Check
	var requests, failed, modes int
	var skipped []string
	naiveFailed := 0
	for _, r := range rep.Results {
		switch {
		case r.isFlipd() && r.Skipped != "":
			skipped = append(skipped, string(r.Mode))
		case r.isFlipd():
			modes++
			requests += r.Load.Requests
			failed += r.Load.Failed()
		case strings.Contains(r.Server, "naive"):
			naiveFailed += r.Load.Failed()
		}
	}
	if len(rep.Results) == 0 {
		return append(append(rep.wsChecks(), rep.h3Checks()...), rep.targetChecks()...)
	}
	zero := fmt.Sprintf("%d failed of %d requests in %d modes", failed, requests, modes)
	if len(skipped) > 0 {
		zero += fmt.Sprintf(" (%s skipped)", strings.Join(skipped, ", "))
	}
	out = append(out, Check{fmt.Sprintf("zero failed requests in every mode, %d upgrades at %d requests/s", rep.Upgrades, rep.Rate),
		zero, failed == 0 && modes > 0 && len(rep.runFailures()) == 0 && len(skipped) == 0})
	out = append(out, Check{"the naive restart shows failures (the benchmark can tell)",
		fmt.Sprintf("%d failed requests", naiveFailed), naiveFailed > 0})
	out = append(out, rep.wsChecks()...)
	out = append(out, rep.h3Checks()...)
	return append(out, rep.targetChecks()...)
}

// targetChecks judges the targets beyond zero failures.
func (rep *Report) targetChecks() []Check {
	var out []Check
	t := rep.Targets
	if t == nil {
		return out
	}
	if rt := t.RoundTrip; t.measured("roundtrip") {
		out = append(out, Check{"POST /load round trip p50 ≤ 15 ms, 10 listeners",
			fmt.Sprintf("p50 %s, p99 %s (%d loads)", ms(rt.ReadyP50), ms(rt.ReadyP99), rt.N), rt.N > 0 && rt.ReadyP50 <= 15*time.Millisecond})
	}
	if t.Reload != nil {
		out = append(out, reloadCheck(t.Reload))
	}
	if len(t.Scaling) == 3 {
		out = append(out, scalingCheck(t.Scaling))
	}
	if t.LibScaling != nil {
		out = append(out, libScalingCheck(t.LibScaling))
	}
	if len(t.Throughput) >= 2 {
		out = append(out, throughputChecks(t)...)
	}
	if d := t.Idle; d != nil {
		res := d.Result
		idleFailed := res.Established.Failed() + res.Final.Failed()
		out = append(out, Check{fmt.Sprintf("%d idle keep-alive connections drained within drain_timeout, zero errors", d.Conns),
			fmt.Sprintf("%d established; old generation gone %s after the request (drain_timeout %s); then one POST from each client: %d failed. "+
				"Meanwhile a trickle of POSTs on random connections: %d of %d failed (%s)",
				res.Established.OK, ms(d.Exited), d.DrainTimeout, idleFailed,
				res.Trickle.Failed(), res.Trickle.Requests, failures(res.Trickle.Failures)),
			d.Exited > 0 && d.Exited < d.DrainTimeout && idleFailed == 0 && res.Established.OK == d.Conns && res.Final.OK == d.Conns})
	}
	if rss := max(t.IdleRSS, t.IdleRSSUpgraded); t.measured("rss") {
		out = append(out, Check{"idle RSS of a generation < 30 MB",
			fmt.Sprintf("%s first, %s after an upgrade", mb(t.IdleRSS), mb(t.IdleRSSUpgraded)), rss > 0 && rss < 30<<20})
	}
	return out
}

// scalingCheck judges 10, 100 and 1,000 listeners: the 1,000 well under
// a second (half of one), and the cost on a line: the 100-listener
// point within 25% (or 2 ms) of the line through the other two.
func scalingCheck(p []ScalePoint) Check {
	slope := float64(p[2].ReadyP50-p[0].ReadyP50) / float64(p[2].Listeners-p[0].Listeners)
	predicted := float64(p[0].ReadyP50) + slope*float64(p[1].Listeners-p[0].Listeners)
	off := float64(p[1].ReadyP50) - predicted
	linear := abs(off) <= max(0.25*predicted, float64(2*time.Millisecond))
	return Check{"1,000 listeners upgrade well under a second (< 0.5 s); cost linear in listeners",
		fmt.Sprintf("ready p50 %s / %s / %s and old gone %s / %s / %s for %d / %d / %d listeners; %.1f µs per listener; the middle point %+.1f ms off the line",
			ms(p[0].ReadyP50), ms(p[1].ReadyP50), ms(p[2].ReadyP50), ms(p[0].ExitedP50), ms(p[1].ExitedP50), ms(p[2].ExitedP50),
			p[0].Listeners, p[1].Listeners, p[2].Listeners, slope/1e3, off/1e6),
		p[2].ReadyP50 < 500*time.Millisecond && p[2].ExitedP50 < 500*time.Millisecond && linear}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
