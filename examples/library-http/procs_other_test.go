//go:build unix && !linux

package main

// becomeSubreaper does nothing: there is no child subreaper here, and the
// init process reaps orphaned generations.
func becomeSubreaper() error { return nil }

// instances cannot list processes by executable here; the test relies on
// the generations it has seen.
func instances(string) ([]int, bool) { return nil, false }
