package bench

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// LibScaling is the library's handover of 1,000 listeners against 4, with
// a standby (BenchmarkUpgradeScaling/standby in ./upgrade), one entry a
// run of the benchmark.
type LibScaling struct {
	// ReadyRatio is how long the Upgrade call took with 1,000 listeners
	// over with 4 (the median of the run's iterations each);
	// ExitedRatio until the old generation had exited; CPURatio the CPU
	// time of a generation.
	ReadyRatio  []float64 `json:"ready_ratio"`
	ExitedRatio []float64 `json:"exited_ratio"`
	CPURatio    []float64 `json:"cpu_ratio"`
	Ready4      []float64 `json:"ready_ms_4"`
	Ready1000   []float64 `json:"ready_ms_1000"`
}

var benchMetricRe = regexp.MustCompile(`([0-9.]+) ([a-z0-9/-]+)`)

// parseLibScaling reads the metrics of each BenchmarkUpgradeScaling line.
func parseLibScaling(out string) *LibScaling {
	l := &LibScaling{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "ready-ratio-1000/4") {
			continue
		}
		m := map[string]float64{}
		for _, f := range benchMetricRe.FindAllStringSubmatch(line, -1) {
			v, err := strconv.ParseFloat(f[1], 64)
			if err == nil {
				m[f[2]] = v
			}
		}
		l.ReadyRatio = append(l.ReadyRatio, m["ready-ratio-1000/4"])
		l.ExitedRatio = append(l.ExitedRatio, m["exited-ratio-1000/4"])
		l.CPURatio = append(l.CPURatio, m["cpu-ratio-1000/4"])
		l.Ready4 = append(l.Ready4, m["ready-ms-4/op"])
		l.Ready1000 = append(l.Ready1000, m["ready-ms-1000/op"])
	}
	return l
}

// libScalingCheck judges the median run's ready ratio against 2.
func libScalingCheck(l *LibScaling) Check {
	r := median(l.ReadyRatio)
	return Check{"1,000 listeners < 2× the handover of 4 (library benchmark, with a standby)",
		fmt.Sprintf("the Upgrade call: %.2f× at the median of %d runs (%.2f–%.2f×; %.2f ms against %.2f ms); until the old generation exited %.2f×, CPU a generation %.2f×",
			r, len(l.ReadyRatio), slices.Min(l.ReadyRatio), slices.Max(l.ReadyRatio), median(l.Ready1000), median(l.Ready4),
			median(l.ExitedRatio), median(l.CPURatio)),
		r > 0 && r < 2}
}
