package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// ThroughputSide is one server's rounds of closed-loop throughput.
type ThroughputSide struct {
	Name      string    `json:"name"`
	PerSecond []float64 `json:"per_second"`
	// CPUPerRequest is the server's CPU time (all its threads, user and
	// system) for each request of a round, warm-up included.
	CPUPerRequest []time.Duration `json:"cpu_per_request"`
	// AllocsPerRequest is the server's heap allocations (the Go runtime's
	// count) for each request of a round.
	AllocsPerRequest []float64 `json:"allocs_per_request,omitempty"`
}

// sideOf is a server's slices as rounds: requests a second, CPU time and
// allocations a request.
func sideOf(name string, slices []SliceResult) ThroughputSide {
	s := ThroughputSide{Name: name}
	for _, sl := range slices {
		n := float64(max(sl.Requests, 1))
		s.PerSecond = append(s.PerSecond, float64(sl.Requests)/max(sl.Elapsed.Seconds(), 1e-9))
		s.CPUPerRequest = append(s.CPUPerRequest, time.Duration(float64(sl.CPU)/n))
		if sl.Allocs >= 0 {
			s.AllocsPerRequest = append(s.AllocsPerRequest, sl.Allocs/n)
		}
	}
	return s
}

// CPU is the median CPU time the server spent per request.
func (s ThroughputSide) CPU() time.Duration {
	var xs []float64
	for _, d := range s.CPUPerRequest {
		xs = append(xs, float64(d))
	}
	return time.Duration(median(xs))
}

// Targets of static_response against the same handler in bare net/http.
const (
	minThroughputRatio = 0.97 // flipd's requests a second, at least
	maxCPURatio        = 1.03 // flipd's CPU time a request, at most
)

// roundRatios is a/b for each round both sides measured.
func roundRatios(a, b []float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

// cpuRatios is a's CPU time a request over b's, round by round.
func cpuRatios(a, b ThroughputSide) []float64 {
	return roundRatios(durations(a.CPUPerRequest), durations(b.CPUPerRequest))
}

func durations(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d)
	}
	return out
}

// sets says in how many sets of fresh processes the rounds were
// measured, if more than one.
func (t *Targets) sets() string {
	if t.ThroughputSets <= 1 {
		return ""
	}
	return fmt.Sprintf(" in %d sets of fresh processes", t.ThroughputSets)
}

// throughputChecks judges flipd (t.Throughput[0]) against bare net/http
// (t.Throughput[1]): the median of the rounds' ratios, for requests a
// second and for CPU time a request; and it reports the allocations a
// request of each.
func throughputChecks(t *Targets) []Check {
	f, b := t.Throughput[0], t.Throughput[1]
	how := fmt.Sprintf("%d alternating rounds of %s each%s, %d connections", len(f.PerSecond), t.ThroughputSlice, t.sets(), t.ThroughputConns)
	if t.ThroughputPinned {
		how += ", server pinned to one core, client to the other"
	}
	rps := roundRatios(f.PerSecond, b.PerSecond)
	cpu := cpuRatios(f, b)
	rpsRatio := median(rps)
	out := []Check{
		{fmt.Sprintf("static_response throughput ≥ %.2f× bare net/http (median of the rounds' ratios)", minThroughputRatio),
			fmt.Sprintf("%.3f× (rounds %s); medians flipd %.0f/s, bare %.0f/s (flipd %.0f–%.0f, bare %.0f–%.0f; %s)",
				rpsRatio, spread(rps), median(f.PerSecond), median(b.PerSecond),
				slices.Min(f.PerSecond), slices.Max(f.PerSecond), slices.Min(b.PerSecond), slices.Max(b.PerSecond), how),
			len(rps) > 0 && rpsRatio >= minThroughputRatio},
		cpuCheck(t, cpu),
	}
	if len(f.AllocsPerRequest) > 0 && len(b.AllocsPerRequest) > 0 {
		fa, ba := median(f.AllocsPerRequest), median(b.AllocsPerRequest)
		out = append(out, Check{"static_response heap allocations a request no more than bare net/http's (+0.5)",
			fmt.Sprintf("medians %s (the Go runtime's count in each server, its reading's own taken off)", throughputAllocs(t.Throughput)),
			fa <= ba+0.5})
	}
	return out
}

// cpuCheck judges flipd's CPU time a request against bare net/http's.
// Measured with both served at once (t.Shared), it is the median of the
// rounds' ratios, and the control's error (a twin of bare net/http
// against another, which should be 1) is added to it: the margin must
// be larger than what the method can tell. Without, it is the alternating rounds' (alt,
// their ratios), as before there was a shared measurement.
func cpuCheck(t *Targets, alt []float64) Check {
	altText := fmt.Sprintf("%.3f× (rounds %s); medians %s", median(alt), spread(alt), throughputCPU(t.Throughput))
	if len(t.Shared) == 0 {
		return Check{fmt.Sprintf("static_response server CPU time a request within %.0f%% of bare net/http's (median of the rounds' ratios)", 100*(maxCPURatio-1)),
			altText, len(alt) > 0 && median(alt) <= maxCPURatio}
	}
	pair := t.Shared[0]
	ratios := cpuRatios(pair[0], pair[1])
	ratio := median(ratios)
	measured := fmt.Sprintf("%.3f× (rounds %s; %d rounds of %s%s, both served at once on one core); medians flipd %.2f µs, bare net/http %.2f µs",
		ratio, spread(ratios), len(ratios), t.SharedRound, t.sets(), float64(pair[0].CPU())/1e3, float64(pair[1].CPU())/1e3)
	controlErr := math.Inf(1)
	if len(t.Shared) >= 2 {
		c := t.Shared[1]
		cr := cpuRatios(c[1], c[0])
		if len(cr) > 0 {
			controlErr = math.Abs(median(cr) - 1)
			measured += fmt.Sprintf("; control, a twin of bare net/http against another: %.3f× (rounds %s)", median(cr), spread(cr))
		}
	}
	if len(t.Shared) >= 3 {
		d := t.Shared[2]
		if dr := cpuRatios(d[0], d[1]); len(dr) > 0 {
			measured += fmt.Sprintf("; of which the drain, %s against a third twin of bare net/http: %.3f× (rounds %s)", d[0].Name, median(dr), spread(dr))
		}
	}
	measured += "; in the alternating rounds " + altText
	return Check{fmt.Sprintf("static_response server CPU time a request within %.0f%% of bare net/http's (median of the rounds' ratios, both served at once, plus the control's error)", 100*(maxCPURatio-1)),
		measured, len(ratios) > 0 && ratio+controlErr <= maxCPURatio}
}

// spread is the lowest and highest of ratios.
func spread(ratios []float64) string {
	if len(ratios) == 0 {
		return "none"
	}
	return fmt.Sprintf("%.3f–%.3f", slices.Min(ratios), slices.Max(ratios))
}

// throughputCPU lists each server's CPU time per request.
func throughputCPU(sides []ThroughputSide) string {
	var parts []string
	for _, s := range sides {
		parts = append(parts, fmt.Sprintf("%s %.2f µs", s.Name, float64(s.CPU())/1e3))
	}
	return strings.Join(parts, ", ")
}

// throughputAllocs lists each server's heap allocations per request.
func throughputAllocs(sides []ThroughputSide) string {
	var parts []string
	for _, s := range sides {
		if len(s.AllocsPerRequest) > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f", s.Name, median(s.AllocsPerRequest)))
		}
	}
	return strings.Join(parts, ", ")
}
