package runtime

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// With upgrade.shutdown_delay, Stop leaves the generation serving while
// it reports "stopping": a reload is refused, a second Stop changes
// nothing, and Close ends the delay at once. (One Upgrader per process:
// this is the runtime tests' only Start.)
func TestStopWaitsOutTheShutdownDelayAndCloseEndsIt(t *testing.T) {
	config := `{"admin": {"disabled": true}, "storage": {"dir": "` + t.TempDir() + `"},
		"upgrade": {"shutdown_delay": "1m"},
		"listeners": {"t": {"address": "tcp/127.0.0.1:0", "module": "test", "greeting": "hi"}}}`
	in, err := Start(Options{Config: func() ([]byte, string, error) { return []byte(config), "test", nil }, LogOutput: io.Discard})
	if err != nil {
		if strings.Contains(err.Error(), "only one Upgrader") {
			t.Skip("needs a fresh test process (-count=1):", err)
		}
		t.Fatal(err)
	}
	defer in.Close()
	if r := in.Readiness(); r != ReadinessReady {
		t.Fatalf("serving: readiness %q, want %q", r, ReadinessReady)
	}
	in.Stop()
	if r, st := in.Readiness(), in.Status().State; r != ReadinessStopping || st != StateStopping {
		t.Fatalf("after Stop: readiness %q, state %q; want %q, %q", r, st, ReadinessStopping, StateStopping)
	}
	if _, err := in.Reload([]byte(config), ReloadOptions{Source: "test"}); !errors.Is(err, ErrStopping) {
		t.Fatalf("a reload during the shutdown delay: %v, want ErrStopping", err)
	}
	if st := in.Stats(); len(st.History) == 0 || st.History[len(st.History)-1].Result != "refused" {
		t.Errorf("the refused reload is not in the history as refused: %+v", st.History)
	}
	in.Stop() // a second stop: the delay runs on
	select {
	case <-in.Done():
		t.Fatal("the generation drained before its shutdown delay ended")
	case <-time.After(200 * time.Millisecond):
	}
	if r := in.Readiness(); r != ReadinessStopping {
		t.Fatalf("after a second Stop: readiness %q, want %q", r, ReadinessStopping)
	}
	in.Close()
	select {
	case <-in.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("Close during the shutdown delay did not stop the generation (the delay is 1m)")
	}
	if r := in.Readiness(); r != ReadinessDraining {
		t.Fatalf("after the stop: readiness %q, want %q", r, ReadinessDraining)
	}
}
