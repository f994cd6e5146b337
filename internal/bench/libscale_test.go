package bench

import (
	"strings"
	"testing"
)

func TestParseLibScalingReadsEachRunAndJudgesTheMedian(t *testing.T) {
	out := `goos: linux
BenchmarkUpgradeScaling/standby-2         	      20	   8769002 ns/op	         2.853 cpu-ratio-1000/4	         2.344 exited-ratio-1000/4	         0.6900 ready-ms-1000/op	         0.4600 ready-ms-4/op	         1.499 ready-ratio-1000/4
BenchmarkUpgradeScaling/standby-2         	      20	   8754927 ns/op	         2.907 cpu-ratio-1000/4	         2.561 exited-ratio-1000/4	         0.7720 ready-ms-1000/op	         0.4900 ready-ms-4/op	         2.575 ready-ratio-1000/4
BenchmarkUpgradeScaling/standby-2         	      20	   9953012 ns/op	         2.809 cpu-ratio-1000/4	         2.432 exited-ratio-1000/4	         0.7860 ready-ms-1000/op	         0.5580 ready-ms-4/op	         1.407 ready-ratio-1000/4
PASS`
	l := parseLibScaling(out)
	if len(l.ReadyRatio) != 3 || l.ReadyRatio[1] != 2.575 || l.CPURatio[2] != 2.809 || l.Ready4[0] != 0.46 {
		t.Fatalf("parsed %+v", l)
	}
	c := libScalingCheck(l)
	if !c.Met || !strings.Contains(c.Measured, "1.50× at the median of 3 runs") {
		t.Errorf("median 1.499 is under 2: %+v", c)
	}
	l.ReadyRatio = []float64{2.1, 1.9, 2.2}
	if libScalingCheck(l).Met {
		t.Error("a median of 2.1 is not under 2")
	}
}
