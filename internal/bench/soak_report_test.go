package bench

import (
	"strings"
	"testing"
)

func TestSoakFailsBeyondItsTolerances(t *testing.T) {
	first := Figures{Generation: 1, Pid: 10, FDs: 15, Goroutines: 12, RSS: 17 << 20,
		SupervisorPid: 9, SupervisorRSS: 8 << 20, Processes: 2}
	clean := func() SoakResult {
		s := first
		s.Generation, s.Pid = 1001, 20
		return SoakResult{Upgrades: 1000, Rate: 500, First: first, Survivor: s, Requests: 1000}
	}
	for _, tc := range []struct {
		name  string
		spoil func(*SoakResult)
		want  string // in Failures; "" for none
	}{
		{"clean", func(*SoakResult) {}, ""},
		{"within the slack", func(r *SoakResult) { r.Survivor.FDs += SoakFDSlack; r.Survivor.RSS += 8 << 20 }, ""},
		{"a descriptor per upgrade", func(r *SoakResult) { r.Survivor.FDs += 1000 }, "open descriptors"},
		{"goroutines", func(r *SoakResult) { r.Survivor.Goroutines += SoakGoroutineSlack + 1 }, "goroutines"},
		{"memory", func(r *SoakResult) { r.Survivor.RSS = 64 << 20 }, "RSS"},
		{"a generation left", func(r *SoakResult) { r.Survivor.Processes = 3 }, "flipd processes alive"},
		{"the supervisor gone", func(r *SoakResult) { r.Survivor.Processes = 1 }, "flipd processes alive"},
		{"the supervisor replaced", func(r *SoakResult) { r.Survivor.SupervisorPid = 30 }, "supervisor pid"},
		{"no supervisor", func(r *SoakResult) { r.First.SupervisorPid, r.Survivor.SupervisorPid = 0, 0 }, "supervisor pid"},
		{"the supervisor's memory", func(r *SoakResult) { r.Survivor.SupervisorRSS = 64 << 20 }, "supervisor RSS"},
		{"a process left", func(r *SoakResult) { r.Left = []string{"30 sh (S) sh -c sleep"} }, "other processes left"},
		{"a failed request", func(r *SoakResult) { r.Failed = 1 }, "requests failed"},
		{"a client retry", func(r *SoakResult) { r.Retries = 1 }, "requests failed"},
		{"no request at all", func(r *SoakResult) { r.Requests = 0 }, "requests failed"},
		{"an upgrade failed", func(r *SoakResult) { r.FailedUps = []string{"upgrade 3: 500"} }, "upgrades failed"},
		{"fewer generations", func(r *SoakResult) { r.Survivor.Generation = 999 }, "generation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := clean()
			tc.spoil(&r)
			got := strings.Join(r.Failures(), "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("failures %q, want %q", got, tc.want)
			}
			if tc.want != "" && !strings.Contains(r.Markdown(), "**over**") {
				t.Fatalf("the table does not mark the row:\n%s", r.Markdown())
			}
		})
	}
}
