package bench

import (
	"strings"
	"testing"
	"time"
)

func TestParseStartupsReadsOnlyGenerationsStartedByAnUpgrade(t *testing.T) {
	log := `2026-11-30T20:08:38.659Z [INFO]  flipd: serving: generation=1 pid=9154 listeners=2 source=file:/tmp/x/flipd.json startup=3.359ms has_parent=false
2026-11-30T20:08:39.713Z [INFO]  flipd: serving: generation=2 pid=9179 listeners=2 source=api startup=3.733ms has_parent=true
2026-11-30T20:08:39.900Z [INFO]  flipd.supervisor: generation exited: pid=17459 child_pid=17468 status=0 serving=true
2026-11-30T20:08:39.982Z [INFO]  flipd: serving: generation=3 pid=9189 listeners=2 source=api startup=850µs has_parent=true
2026-11-30T20:08:40.120Z [INFO]  flipd: serving: generation=4 pid=9201 listeners=2 source=api startup="912µs" has_parent=true`
	got := parseStartups(log)
	want := []time.Duration{3733 * time.Microsecond, 850 * time.Microsecond, 912 * time.Microsecond}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("parseStartups = %v, want %v", got, want)
	}
}

// The phases a new generation logs (hclog quotes a value with µ) are
// read by name, and the breakdown gives their medians (the lower of
// two, as medianDuration takes it).
func TestParsePhasesReadsWhatEachNewGenerationMeasured(t *testing.T) {
	log := `2026-11-30T20:08:38.659Z [INFO]  flipd: serving: generation=1 pid=9154 listeners=2 source=file:/tmp/x/flipd.json startup=3.359ms has_parent=false
2026-11-30T23:06:21.675Z [INFO]  flipd: serving: generation=21 pid=25325 listeners=11 source=api startup=2.779ms has_parent=true validate="610µs" start=5.456ms provision="442µs" listen="456µs" ready="997µs" since_request=7.961ms
2026-11-30T23:06:21.998Z [INFO]  flipd: serving: generation=22 pid=25338 listeners=11 source=api startup=1.806ms has_parent=true validate="456µs" start=6.709ms provision="632µs" listen="673µs" ready="95µs" since_request=8.565ms`
	got := parsePhases(log)
	if v := got["validate"]; len(v) != 2 || v[0] != 610*time.Microsecond || v[1] != 456*time.Microsecond {
		t.Errorf("validate = %v, want [610µs 456µs]", v)
	}
	if v := got["start"]; len(v) != 2 || v[1] != 6709*time.Microsecond {
		t.Errorf("start = %v, want 5.456ms and 6.709ms", v)
	}
	r := ReloadCost{Phases: got}
	if b := r.Breakdown(); !strings.Contains(b, "validate 0.46 ms, start 5.46 ms, provision 0.44 ms, listen 0.46 ms, ready 0.10 ms, since_request 7.96 ms") {
		t.Errorf("the breakdown does not give the phases' medians: %s", b)
	}
}

func TestParseInitDoneIsTheEndOfTheLastInit(t *testing.T) {
	trace := `init internal/bytealg @0.009 ms, 0.003 ms clock, 0 bytes, 0 allocs
init github.com/prometheus/client_golang/prometheus @12 ms, 0.85 ms clock, 64688 bytes, 250 allocs
init net/http @11.5 ms, 0.063 ms clock, 4712 bytes, 49 allocs
flipd (devel) go1.26.8`
	if got, want := parseInitDone(trace), 12850*time.Microsecond; got != want {
		t.Fatalf("parseInitDone = %v, want %v", got, want)
	}
	if got := parseInitDone("flipd (devel)"); got != 0 {
		t.Fatalf("parseInitDone without a trace = %v, want 0", got)
	}
}

func ds(ms ...float64) []time.Duration {
	var out []time.Duration
	for _, m := range ms {
		out = append(out, time.Duration(m*float64(time.Millisecond)))
	}
	return out
}

func TestReloadCheckComparesMediansWithTheEmptyBinaryAndIdle(t *testing.T) {
	r := &ReloadCost{
		Empty:           ds(2, 3, 100),
		Version:         ds(4, 5, 4),
		Idle:            ds(5, 6, 50),
		EmptyLoaded:     ds(3, 3, 3),
		Loaded:          ds(8, 9, 9),
		Startup:         ds(1, 1, 1),
		LoadRate:        2000,
		NoStandby:       ds(12, 12, 13),
		Phases:          map[string][]time.Duration{"validate": ds(0.5, 0.5, 0.6), "start": ds(0.6, 0.7, 0.7)},
		PhasesNoStandby: map[string][]time.Duration{"start": ds(5, 5, 5)},
	}
	if got := r.Ratio(); got != 2 {
		t.Errorf("Ratio = %v, want 2 (6 ms over 3 ms)", got)
	}
	if got := r.LoadedRatio(); got != 1.5 {
		t.Errorf("LoadedRatio = %v, want 1.5 (9 ms over 6 ms)", got)
	}
	c := reloadCheck(r)
	if !c.Met {
		t.Errorf("2× and 1.5× are within the targets: %+v", c)
	}
	// The breakdown: the phases the generations timed, with and without
	// the standby, and the process start it saves; and how the load
	// slows a process start, beside how it slows the reload.
	for _, s := range []string{"2.00×", "(1.50× idle; empty binary 3.00 ms, 1.00× its idle start)", "with the standby, as the generations timed it: validate 0.50 ms, start 0.70 ms",
		"without a standby: round trip 12.0 ms (4.00× the empty binary), start 5.00 ms",
		"empty binary 3.00 ms, flipd's package init 1.00 ms more"} {
		if !strings.Contains(c.Measured, s) {
			t.Errorf("the check does not say %q: %s", s, c.Measured)
		}
	}

	r.Loaded = ds(9.1, 9.1, 9.1)
	if reloadCheck(r).Met {
		t.Error("under load 1.52× idle is over the target")
	}
	r.Loaded, r.Idle = ds(8, 9, 9), ds(5, 6.1, 50)
	if reloadCheck(r).Met {
		t.Error("2.03× the empty binary is over the target")
	}
	r.Idle, r.LoadFailed = ds(5, 6, 50), 1
	if reloadCheck(r).Met {
		t.Error("a failed request under load is not met")
	}
	if reloadCheck(&ReloadCost{}).Met {
		t.Error("nothing measured is not met")
	}
}
