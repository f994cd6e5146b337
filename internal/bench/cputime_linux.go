package bench

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// threadsCPU is the time pid's threads have been on a CPU, to the
// nanosecond (/proc/PID/task/TID/schedstat); /proc/PID/stat counts in
// 10 ms ticks, too coarse for a round of a few seconds. ok is false
// once the process is gone.
func threadsCPU(pid int) (cpu time.Duration, ok bool) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread is gone
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, _ := strconv.ParseInt(f[0], 10, 64)
		cpu += time.Duration(ns)
	}
	return cpu, true
}
