package admin

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// writeProcessMetrics writes the process's metrics under the names of
// client_golang's process collector, read from /proc/self. A file that
// cannot be read leaves its metrics out.
func writeProcessMetrics(e *exposition) {
	if st, err := os.ReadFile("/proc/self/stat"); err == nil {
		writeStat(e, st)
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		e.single("process_open_fds", "Number of open file descriptors.", "gauge", float64(len(fds)))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		e.single("process_max_fds", "Maximum number of open file descriptors.", "gauge", float64(lim.Cur))
	}
}

// writeStat writes CPU time, memory and start time from /proc/self/stat.
func writeStat(e *exposition, st []byte) {
	// The command name, in parentheses, may hold spaces: fields are
	// counted after its closing one, from field 3 (state).
	i := bytes.LastIndexByte(st, ')')
	if i < 0 {
		return
	}
	f := strings.Fields(string(st[i+1:]))
	num := func(field int) float64 {
		if field-3 >= len(f) {
			return 0
		}
		v, _ := strconv.ParseFloat(f[field-3], 64)
		return v
	}
	e.single("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter", (num(14)+num(15))/clockTicks)
	e.single("process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge", num(23))
	e.single("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", num(24)*float64(os.Getpagesize()))
	if boot := bootTime(); boot > 0 {
		e.single("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge", boot+num(22)/clockTicks)
	}
}

// bootTime is the system's boot time in seconds since the epoch, from
// /proc/stat's btime line, or 0.
func bootTime() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			t, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return t
		}
	}
	return 0
}
