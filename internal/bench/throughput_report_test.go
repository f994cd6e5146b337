package bench

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

func TestThroughputChecksJudgeTheMedianOfTheRoundsRatios(t *testing.T) {
	us := time.Microsecond
	tt := &Targets{ThroughputConns: 16, Throughput: []ThroughputSide{
		{Name: "flipd", PerSecond: []float64{100, 50, 99}, CPUPerRequest: []time.Duration{10 * us, 20 * us, 10 * us},
			AllocsPerRequest: []float64{14, 14.2, 14}},
		{Name: "bare net/http", PerSecond: []float64{101, 60, 100}, CPUPerRequest: []time.Duration{10 * us, 15 * us, 10 * us},
			AllocsPerRequest: []float64{14, 14, 14}},
	}}
	checks := throughputChecks(tt)
	if len(checks) != 3 {
		t.Fatalf("%d checks, want 3: %+v", len(checks), checks)
	}
	// Ratios 0.990, 0.833, 0.990: median 0.990, though the medians of
	// each side (99 against 100) would say the same here, a slow round
	// of one side must not decide.
	if !checks[0].Met || !strings.Contains(checks[0].Measured, "0.990×") {
		t.Errorf("throughput: %+v, want met at 0.990×", checks[0])
	}
	if !checks[1].Met || !strings.Contains(checks[1].Measured, "1.000×") {
		t.Errorf("CPU: %+v, want met at 1.000×", checks[1])
	}
	if !checks[2].Met || !strings.Contains(checks[2].Measured, "flipd 14.00, bare net/http 14.00") {
		t.Errorf("allocations: %+v, want met, 14 each", checks[2])
	}

	tt.Throughput[0].PerSecond = []float64{90, 90, 90}
	tt.Throughput[0].CPUPerRequest = []time.Duration{11 * us, 11 * us, 11 * us}
	tt.Throughput[0].AllocsPerRequest = []float64{16, 16, 16}
	for _, c := range throughputChecks(tt) {
		if c.Met {
			t.Errorf("%s: met with flipd 10%% slower and allocating 2 more: %s", c.Target, c.Measured)
		}
	}
}

func TestTheReportJudgesOnlyTheTargetsMeasured(t *testing.T) {
	rep := &Report{Targets: &Targets{Only: []string{"throughput"}}}
	for _, c := range rep.targetChecks() {
		t.Errorf("check %q without its measurement: %s", c.Target, c.Measured)
	}
	rep.Targets.Only = nil
	if len(rep.targetChecks()) == 0 {
		t.Error("no check when every target was to be measured: the missing ones must show as not met")
	}
}

func TestMallocsAreReadFromPrometheusText(t *testing.T) {
	text := "# HELP go_memstats_mallocs_total Total number of heap objects allocated.\n" +
		"# TYPE go_memstats_mallocs_total counter\n" +
		"go_memstats_mallocs_total_other 1\n" +
		"go_memstats_mallocs_total 1.2345678e+07\n"
	n, err := parseMallocs(bufio.NewScanner(strings.NewReader(text)), "test")
	if err != nil || n != 12345678 {
		t.Fatalf("got %d, %v; want 12345678", n, err)
	}
	if _, err := parseMallocs(bufio.NewScanner(strings.NewReader("go_goroutines 3\n")), "test"); err == nil {
		t.Fatal("no error without the metric")
	}
}

func TestTheCPUTargetIsJudgedOnBothServedAtOnceWithTheControlsErrorAdded(t *testing.T) {
	us := time.Microsecond
	side := func(name string, cpu ...time.Duration) ThroughputSide {
		return ThroughputSide{Name: name, CPUPerRequest: cpu}
	}
	tt := &Targets{ThroughputConns: 16, SharedRound: 2 * time.Second, Throughput: []ThroughputSide{
		// The alternating rounds say 1.1×: not what decides.
		side("flipd", 11*us, 11*us, 11*us), side("bare net/http", 10*us, 10*us, 10*us),
	}}
	tt.Shared = [][2]ThroughputSide{
		{side("flipd", 10200, 10150, 30000), side("bare net/http", 10000, 10000, 10000)},
		{side("bare net/http (twin 1)", 10000, 10000, 10000), side("bare net/http (twin 2)", 10050, 10000, 9990)},
	}
	c := cpuCheck(tt, []float64{1.1, 1.1, 1.1})
	// Ratios 1.02, 1.015, 3: median 1.02; control 1.00 (error 0): met.
	if !c.Met || !strings.Contains(c.Measured, "1.020×") || !strings.Contains(c.Measured, "control") {
		t.Errorf("%+v: want met at 1.020× with the control shown", c)
	}
	if strings.Contains(c.Measured, "of which the drain") {
		t.Errorf("%+v: the drain's share shown without its measurement", c)
	}
	// The drain alone against a twin of bare net/http: shown, and not
	// what decides.
	tt.Shared = append(tt.Shared, [2]ThroughputSide{side("bare + timeouts + drain", 10100, 10120, 10080), side("bare net/http (twin 3)", 10000, 10000, 10000)})
	if c := cpuCheck(tt, nil); !c.Met || !strings.Contains(c.Measured, "of which the drain, bare + timeouts + drain against a third twin of bare net/http: 1.010×") {
		t.Errorf("%+v: want met, with the drain's share 1.010× shown", c)
	}
	tt.Shared = tt.Shared[:2]
	tt.Shared[1][1] = side("bare net/http (twin 2)", 10150, 10150, 10150) // the method errs by 1.5%
	if c := cpuCheck(tt, nil); c.Met {
		t.Errorf("%+v: met, though 1.020× and the control's 1.5%% error exceed 1.03", c)
	}
	tt.Shared = tt.Shared[:1] // no control: nothing tells the method's error
	if c := cpuCheck(tt, nil); c.Met {
		t.Errorf("%+v: met without a control", c)
	}
}

// Rounds measured in sets of fresh processes say so, in both checks;
// rounds of one set say nothing of sets.
func TestTheThroughputChecksSayHowManySetsOfProcesses(t *testing.T) {
	us := time.Microsecond
	side := func(name string) ThroughputSide {
		return ThroughputSide{Name: name, PerSecond: []float64{100, 100}, CPUPerRequest: []time.Duration{10 * us, 10 * us}}
	}
	tt := &Targets{ThroughputConns: 16, ThroughputSlice: 200 * time.Millisecond, SharedRound: 2 * time.Second,
		Throughput: []ThroughputSide{side("flipd"), side("bare net/http")},
		Shared:     [][2]ThroughputSide{{side("flipd"), side("bare net/http")}, {side("bare net/http (twin 1)"), side("bare net/http (twin 2)")}}}
	for _, sets := range []int{0, 1, 4} {
		tt.ThroughputSets = sets
		checks := throughputChecks(tt)
		for _, c := range checks[:2] {
			if says := strings.Contains(c.Measured, "in 4 sets of fresh processes"); says != (sets == 4) || strings.Contains(c.Measured, "in 1 sets") {
				t.Errorf("%d sets: %q", sets, c.Measured)
			}
		}
	}
}
