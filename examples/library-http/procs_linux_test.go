//go:build linux

package main

import (
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// becomeSubreaper makes orphaned descendants, the generations whose parent
// generation has exited, children of this process, so that the test reaps
// them by pid.
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// instances lists the live processes running exe. A zombie has no exe link,
// so it is not listed.
func instances(exe string) ([]int, bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, false
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if path, err := os.Readlink("/proc/" + e.Name() + "/exe"); err == nil && path == exe {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, true
}
