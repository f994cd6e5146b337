package poll_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flipd/flipd/internal/poll"
)

// Until returns once another goroutine makes the condition true.
func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	var done atomic.Bool
	go func() {
		time.Sleep(20 * time.Millisecond)
		done.Store(true)
	}()
	poll.Until(t, 10*time.Second, "the flag", done.Load)
	if !done.Load() {
		t.Fatal("Until returned before the condition held")
	}
}

// Until fails the test, naming what it waited for, when the limit passes.
func TestUntilFailsTheTestAtTheLimit(t *testing.T) {
	rec := &recorder{TB: t}
	finished := make(chan struct{})
	go func() { // Fatalf ends the goroutine, as it does a test's
		defer close(finished)
		poll.Until(rec, 30*time.Millisecond, "a condition that never holds", func() bool { return false })
	}()
	<-finished
	if want := "timed out after 30ms waiting for a condition that never holds"; rec.failed != want {
		t.Fatalf("the test failed with %q, want %q", rec.failed, want)
	}
}

// recorder notes a failure instead of failing the test that runs it.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
