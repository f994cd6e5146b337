package engine

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd"
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
	if r := in.Readiness(); r != flipd.ReadinessReady {
		t.Fatalf("serving: readiness %q, want %q", r, flipd.ReadinessReady)
	}
	in.Stop()
	if r, st := in.Readiness(), in.Status().State; r != flipd.ReadinessStopping || st != StateStopping {
		t.Fatalf("after Stop: readiness %q, state %q; want %q, %q", r, st, flipd.ReadinessStopping, StateStopping)
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
	if r := in.Readiness(); r != flipd.ReadinessStopping {
		t.Fatalf("after a second Stop: readiness %q, want %q", r, flipd.ReadinessStopping)
	}
	in.Close()
	select {
	case <-in.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("Close during the shutdown delay did not stop the generation (the delay is 1m)")
	}
	if r := in.Readiness(); r != flipd.ReadinessDraining {
		t.Fatalf("after the stop: readiness %q, want %q", r, flipd.ReadinessDraining)
	}
}

// The same on a fake upgrader, with what the real one cannot show: that
// the upgrader is not stopped while the delay runs.
func TestAStopWithAShutdownDelayServesOnUntilClose(t *testing.T) {
	f := newFakeUpgrader(1)
	pidFile := pidFilePath(t)
	config := testConfig(t, `"shutdown_delay": "1m"`)
	in := startOn(t, f, config, Options{PIDFile: pidFile})
	for i, stop := range []string{"Stop", "a second Stop"} {
		in.Stop()
		if r, st := in.Readiness(), in.Status().State; r != flipd.ReadinessStopping || st != StateStopping || f.stops() != 0 {
			t.Fatalf("after %s: readiness %q, state %q, upgrader stopped %d times; want %q, %q, 0",
				stop, r, st, f.stops(), flipd.ReadinessStopping, StateStopping)
		}
		if i == 0 {
			if _, err := in.Reload([]byte(config), ReloadOptions{Source: "api"}); !errors.Is(err, ErrStopping) {
				t.Fatalf("a reload during the shutdown delay: %v, want ErrStopping", err)
			}
		}
	}
	if h := in.Stats().History; len(h) != 1 || h[0].Result != "refused" || h[0].Pid != 0 || h[0].Error != ErrStopping.Error() {
		t.Errorf("history %+v, want the reload refused", h)
	}
	f.mu.Lock()
	asked := len(f.upgrades)
	f.mu.Unlock()
	if asked != 0 {
		t.Errorf("the upgrader was asked for %d upgrades during the shutdown delay", asked)
	}
	in.Close()
	waitDone(t, in)
	if r := in.Readiness(); r != flipd.ReadinessDraining || f.stops() != 1 {
		t.Errorf("after Close: readiness %q, upgrader stopped %d times; want %q, once", r, f.stops(), flipd.ReadinessDraining)
	}
	if got := pidFileNames(t, pidFile); got != "" {
		t.Errorf("after the final stop the PID file names %q", got)
	}
}

// A stop ends the generation by stopping its upgrader: at once without a
// shutdown delay, or before the generation serves; once the delay runs
// out with one.
func TestAStopEndsTheGenerationThroughItsUpgrader(t *testing.T) {
	for _, tc := range []struct {
		name, upgrade string
		beforeReady   bool
	}{
		{name: "without a shutdown delay"},
		{name: "once the shutdown delay runs out", upgrade: `"shutdown_delay": "1ms"`},
		{name: "before ready, with a shutdown delay", upgrade: `"shutdown_delay": "1m"`, beforeReady: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeUpgrader(1)
			if tc.beforeReady {
				f.onReady = func(in *Instance) { in.Stop() }
			}
			pidFile := pidFilePath(t)
			in := startOn(t, f, testConfig(t, tc.upgrade), Options{PIDFile: pidFile})
			if !tc.beforeReady {
				in.Stop()
			}
			waitDone(t, in)
			st := in.Status()
			if r := in.Readiness(); r != flipd.ReadinessDraining || st.State != StateDraining || st.DrainingSince.IsZero() {
				t.Errorf("after the stop: readiness %q, state %q, draining since %v", r, st.State, st.DrainingSince)
			}
			if f.stops() != 1 {
				t.Errorf("the upgrader was stopped %d times, want once", f.stops())
			}
			if got := pidFileNames(t, pidFile); got != "" {
				t.Errorf("after the final stop the PID file names %q", got)
			}
			if err := in.Wait(); err != nil {
				t.Errorf("the drain: %v", err)
			}
		})
	}
}

// Once this generation has handed over, a stop changes nothing: it
// drains already, and the new generation serves on.
func TestAStopAfterTheHandoverChangesNothing(t *testing.T) {
	f := newFakeUpgrader(1)
	in := startOn(t, f, testConfig(t, `"shutdown_delay": "1m"`), Options{})
	if _, err := in.Reload([]byte(testConfig(t, "")), ReloadOptions{Source: "api"}); err != nil {
		t.Fatal(err)
	}
	in.Stop()
	waitDone(t, in)
	if r := in.Readiness(); r != flipd.ReadinessHandedOver {
		t.Errorf("readiness %q, want %q", r, flipd.ReadinessHandedOver)
	}
	if pids := f.signalledPids(); len(pids) != 0 {
		t.Errorf("the new generation was told to stop: %v", pids)
	}
}
