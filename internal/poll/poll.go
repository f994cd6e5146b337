// Package poll waits, in a test, for a condition that another goroutine
// or process makes true: a connection tracked, a drain started, a process
// gone. It is the one such loop of flipd's tests; a package binds its own
// limit in a one-line wrapper (waitFor, eventually).
package poll

import (
	"testing"
	"time"
)

// Interval is how often Until checks its condition.
const Interval = 5 * time.Millisecond

// Until calls cond every Interval until it returns true; if limit passes
// first, it fails the test, saying what it waited for. cond runs on the
// test's goroutine.
func Until(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(Interval)
	}
}
