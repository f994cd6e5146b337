//go:build !linux

package bench

import "time"

// threadsCPU is not known here: the benchmark runs on Linux only.
func threadsCPU(int) (time.Duration, bool) { return 0, false }
