package main

import "golang.org/x/sys/unix"

// becomeSubreaper makes orphaned generations this process's children, so
// that the tests can reap them (PID 1 here may not).
func becomeSubreaper() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }
