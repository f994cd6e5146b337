package bench

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ReloadCost compares the POST /load round trip (10 listeners) with the
// start of an empty Go binary, alternated in one run, idle and under
// load, with what the round trip is made of.
type ReloadCost struct {
	// Empty is exec and wait of an empty Go binary (package main; func
	// main(){}); Version is "flipd version", the same for flipd's
	// binary; Idle is the POST /load round trip, each alternated with
	// the others.
	Empty   []time.Duration `json:"empty"`
	Version []time.Duration `json:"version"`
	Idle    []time.Duration `json:"idle"`
	// EmptyLoaded and Loaded are the same under LoadRate keep-alive
	// requests a second to one of the listeners; LoadFailed counts
	// that load's failed requests.
	EmptyLoaded []time.Duration `json:"empty_loaded"`
	Loaded      []time.Duration `json:"loaded"`
	LoadRate    int             `json:"load_rate"`
	LoadFailed  int             `json:"load_failed"`
	// Startup is each new generation's own "startup=" figure: from its
	// engine's start (after package init) until it served.
	Startup []time.Duration `json:"startup"`
	// InitDone is when "flipd version"'s last package init ended, by
	// GODEBUG=inittrace=1; 0 if unknown.
	InitDone time.Duration `json:"init_done"`
	// Phases are the steps each new generation timed and logged on its
	// "serving" line, by name (see phaseNames).
	Phases map[string][]time.Duration `json:"phases,omitempty"`
	// NoStandby is the round trip of a flipd without a standby, each
	// alternated with the others; PhasesNoStandby its phases.
	NoStandby       []time.Duration            `json:"no_standby"`
	PhasesNoStandby map[string][]time.Duration `json:"phases_no_standby,omitempty"`
}

// medianDuration is the median of ds, or 0.
func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return Percentile(s, 0.5)
}

// Ratio is the idle round trip's median over the empty binary's.
func (r ReloadCost) Ratio() float64 {
	return ratio(medianDuration(r.Idle), medianDuration(r.Empty))
}

// LoadedRatio is the round trip's median under load over idle.
func (r ReloadCost) LoadedRatio() float64 {
	return ratio(medianDuration(r.Loaded), medianDuration(r.Idle))
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Breakdown says where the median round trip goes: as the generations
// timed it, with the standby (Idle) and without (NoStandby), and how a
// process start compares (the empty binary, flipd's package init).
func (r ReloadCost) Breakdown() string {
	empty, version := medianDuration(r.Empty), medianDuration(r.Version)
	s := fmt.Sprintf("with the standby, as the generations timed it: %s; without a standby: round trip %s (%.2f× the empty binary), %s; a process start: empty binary %s, flipd's package init %s more",
		phaseMedians(r.Phases), ms(medianDuration(r.NoStandby)), ratio(medianDuration(r.NoStandby), empty),
		phaseMedians(r.PhasesNoStandby), ms(empty), ms(version-empty))
	if r.InitDone > 0 {
		s += fmt.Sprintf(" (inittrace: init done at %s)", ms(r.InitDone))
	}
	return s
}

// phaseMedians gives the median of each phase, in order.
func phaseMedians(phases map[string][]time.Duration) string {
	var out []string
	for _, name := range phaseNames {
		if d := phases[name]; len(d) > 0 {
			out = append(out, name+" "+ms(medianDuration(d)))
		}
	}
	if len(out) == 0 {
		return "no phases logged"
	}
	return strings.Join(out, ", ")
}

// reloadCheck judges the round trip against the empty binary's start,
// and under load against idle.
func reloadCheck(r *ReloadCost) Check {
	ok := len(r.Idle) > 0 && len(r.Empty) > 0 && r.Ratio() <= 2 &&
		len(r.Loaded) > 0 && r.LoadedRatio() <= 1.5 && r.LoadFailed == 0
	return Check{"POST /load ≤ 2× empty Go binary start (10 listeners, upgrade.standby on; under load ≤ 1.5× idle)",
		fmt.Sprintf("round trip p50 %s vs empty binary %s: %.2f× (flipd version %s), %d alternations; under %d req/s: %s (%.2f× idle; empty binary %s, %.2f× its idle start), %d failed; %s",
			ms(medianDuration(r.Idle)), ms(medianDuration(r.Empty)), r.Ratio(), ms(medianDuration(r.Version)), len(r.Idle),
			r.LoadRate, ms(medianDuration(r.Loaded)), r.LoadedRatio(), ms(medianDuration(r.EmptyLoaded)),
			ratio(medianDuration(r.EmptyLoaded), medianDuration(r.Empty)), r.LoadFailed, r.Breakdown()),
		ok}
}

// startupRe finds a new generation's "serving" line and its startup;
// hclog quotes a value that is not plain ASCII (startup="850µs").
var startupRe = regexp.MustCompile(`\bserving\b.*\bstartup="?([0-9.]+[µunm]?s)\b.*\bhas_parent=true`)

// parseStartups finds the "startup=" figure of every generation started
// by an upgrade in a flipd log.
func parseStartups(log string) []time.Duration {
	var out []time.Duration
	for _, line := range strings.Split(log, "\n") {
		if m := startupRe.FindStringSubmatch(line); m != nil {
			if d, err := time.ParseDuration(m[1]); err == nil {
				out = append(out, d)
			}
		}
	}
	return out
}

// phaseNames are the steps a new generation times, in order: validate
// (the old generation, from the request to the payload), start (process
// start, Go runtime, package init and handshake; with a standby, handing
// it the reload), provision, listen, ready, and since_request (the
// whole, up to ready).
var phaseNames = []string{"validate", "start", "provision", "listen", "ready", "since_request"}

var phaseRe = regexp.MustCompile(`\b([a-z_]+)="?([0-9.]+[µunm]?s)\b`)

// parsePhases reads the phases on every "serving" line of a generation
// started by an upgrade in a flipd log.
func parsePhases(log string) map[string][]time.Duration {
	out := map[string][]time.Duration{}
	for _, line := range strings.Split(log, "\n") {
		if !startupRe.MatchString(line) {
			continue
		}
		for _, m := range phaseRe.FindAllStringSubmatch(line, -1) {
			if !slices.Contains(phaseNames, m[1]) {
				continue
			}
			if d, err := time.ParseDuration(m[2]); err == nil {
				out[m[1]] = append(out[m[1]], d)
			}
		}
	}
	return out
}

var initRe = regexp.MustCompile(`^init \S+ @([0-9.]+) ms, ([0-9.]+) ms clock`)

// parseInitDone is when the last package init ended in GODEBUG=inittrace=1
// output, or 0.
func parseInitDone(trace string) time.Duration {
	var done float64
	for _, line := range strings.Split(trace, "\n") {
		if m := initRe.FindStringSubmatch(line); m != nil {
			at, _ := strconv.ParseFloat(m[1], 64)
			clock, _ := strconv.ParseFloat(m[2], 64)
			done = max(done, at+clock)
		}
	}
	return time.Duration(done * float64(time.Millisecond))
}
