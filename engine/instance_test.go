package engine

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/upgrade"
)

// A generation is starting until it has told its upgrader it is ready,
// with its sockets open by then and its PID file not written yet; it is
// active after, and its PID file names it.
func TestAGenerationStartsThenServesAndWritesItsPIDFileAfterReady(t *testing.T) {
	f := newFakeUpgrader(1)
	pidFile := pidFilePath(t)
	var state State
	var readiness flipd.Readiness
	var listened []string
	var pidAtReady string
	f.onReady = func(in *Instance) {
		state, readiness = in.Status().State, in.Readiness()
		f.mu.Lock()
		listened = append(listened, f.listened...)
		f.mu.Unlock()
		pidAtReady = pidFileNames(t, pidFile)
	}
	in := startOn(t, f, testConfig(t, ""), Options{PIDFile: pidFile})

	if state != StateStarting || readiness != flipd.ReadinessReady {
		t.Errorf("at Ready: state %q, readiness %q; want %q, %q", state, readiness, StateStarting, flipd.ReadinessReady)
	}
	if len(listened) != 1 || listened[0] != "tcp/127.0.0.1:0" {
		t.Errorf("at Ready, the sockets opened were %q; want the listener's", listened)
	}
	if pidAtReady != "" {
		t.Errorf("the PID file named %q before Ready", pidAtReady)
	}
	st := in.Status()
	if st.State != StateActive || in.Readiness() != flipd.ReadinessReady || st.Generation != 1 || st.Source != "test" {
		t.Errorf("after the start: %+v, readiness %q", st, in.Readiness())
	}
	if got, want := pidFileNames(t, pidFile), strconv.Itoa(os.Getpid())+"\n"; got != want {
		t.Errorf("the PID file names %q, want %q", got, want)
	}
	if st.PIDFileError != "" {
		t.Errorf("status shows a PID file error: %s", st.PIDFileError)
	}
}

// A PID file that cannot be written does not stop the generation from
// serving; Status says why it is missing.
func TestAPIDFileThatCannotBeWrittenIsShownInStatus(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "gone", "flipd.pid")
	in := startOn(t, newFakeUpgrader(1), testConfig(t, ""), Options{PIDFile: pidFile})
	st := in.Status()
	if st.State != StateActive {
		t.Errorf("state %q, want %q", st.State, StateActive)
	}
	if !strings.Contains(st.PIDFileError, "PID file "+pidFile) {
		t.Errorf("status: pid_file_error %q, want it to name %s", st.PIDFileError, pidFile)
	}
}

// A Ready the upgrader could not deliver is logged; the generation
// serves on, since nothing else does.
func TestAFailedReadyLeavesTheGenerationServing(t *testing.T) {
	f := newFakeUpgrader(1)
	f.readyErr = errors.New("upgrade: can't tell the parent we are ready: broken pipe")
	in := startOn(t, f, testConfig(t, ""), Options{})
	if st := in.Status().State; st != StateActive {
		t.Errorf("state %q, want %q", st, StateActive)
	}
}

// A config that does not load fails the start: the upgrader is stopped,
// and a parent (there is none here) would hear why.
func TestAConfigThatDoesNotLoadFailsTheStart(t *testing.T) {
	f := newFakeUpgrader(1)
	_, err := launchOn(f, `{"listeners": {"t": {"address": "tcp/127.0.0.1:0", "module": "nope"}}}`, Options{})
	var ce *flipd.ConfigError
	if !errors.As(err, &ce) || ce.Field != "listeners.t" {
		t.Fatalf("start: %v, want a *ConfigError for listeners.t", err)
	}
	if f.stops() != 1 {
		t.Errorf("the upgrader was stopped %d times, want once", f.stops())
	}
}

// A new generation that cannot read what its parent passed on tells the
// parent why, and stops.
func TestAPayloadOfAnotherVersionFailsTheStartAndTellsTheParent(t *testing.T) {
	f := newFakeUpgrader(2)
	f.payload = []byte(`{"version": 99}`)
	_, err := launchOn(f, "", Options{})
	if err == nil || !strings.Contains(err.Error(), "reading the config from the previous generation: version 99") {
		t.Fatalf("start: %v", err)
	}
	f.mu.Lock()
	failed := f.failed
	f.mu.Unlock()
	if failed != err {
		t.Errorf("the parent heard %v, want %v", failed, err)
	}
	if f.stops() != 1 {
		t.Errorf("the upgrader was stopped %d times, want once", f.stops())
	}
}

// A new generation serves the config its parent passed on, from the
// source it came from, and goes on with its parent's numbers: the reload
// that started it is recorded there as "ok", and how long the parent took
// to exit once the parent has.
func TestANewGenerationTakesConfigSourceAndStatsFromItsParent(t *testing.T) {
	parent := newFakeUpgrader(1)
	in := startOn(t, parent, testConfig(t, ""), Options{})
	if _, err := in.Reload([]byte(`{"listeners": {`), ReloadOptions{Source: "api"}); err == nil {
		t.Fatal("an invalid config reloaded")
	}
	config := testConfig(t, `"max_draining": 3`) // as sent, not compacted
	if _, err := in.Reload([]byte(config), ReloadOptions{Source: "api"}); err != nil {
		t.Fatal(err)
	}
	waitDone(t, in)

	child := newFakeUpgrader(2)
	child.payload = parent.lastUpgrade(t).Payload
	child.parentExited = make(chan struct{})
	next := startOn(t, child, "", Options{Config: func() ([]byte, string, error) {
		t.Error("a new generation asked for the first generation's config")
		return nil, "", errors.New("not the first generation")
	}})
	if got := string(next.ConfigJSON()); got != config {
		t.Errorf("the new generation serves\n%s\nwant\n%s", got, config)
	}
	if st := next.Status(); st.Source != "api" || st.Generation != 2 {
		t.Errorf("status: source %q, generation %d; want api, 2", st.Source, st.Generation)
	}
	stats := next.Stats()
	if stats.Upgrades["invalid_config"] != 1 || stats.Upgrades["ok"] != 1 || stats.UpgradeSeconds.Count != 1 {
		t.Errorf("the new generation's counts: %v, %d timed; want the parent's invalid_config and its own ok",
			stats.Upgrades, stats.UpgradeSeconds.Count)
	}
	last := stats.History[len(stats.History)-1]
	if last.From != 1 || last.To != 2 || last.Pid != os.Getpid() || last.Result != "ok" || last.Source != "api" {
		t.Errorf("the reload is recorded as %+v", last)
	}

	close(child.parentExited)
	deadline := time.Now().Add(10 * time.Second)
	for next.Stats().DrainSeconds.Count == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the parent's drain was not timed once it exited")
		}
		time.Sleep(time.Millisecond)
	}
}

// Status lists the older generations still draining, and says that they
// drain.
func TestStatusListsTheOlderGenerationsStillDraining(t *testing.T) {
	f := newFakeUpgrader(3)
	f.payload, _ = json.Marshal(payload{Version: payloadVersion, Config: []byte(testConfig(t, "")), Source: "api"})
	at := time.Now().Add(-time.Minute)
	f.elders = []upgrade.Elder{{Pid: 101, Generation: 1, Started: at}, {Pid: 102, Generation: 2, Started: at}}
	in := startOn(t, f, "", Options{})
	older := in.Status().Older
	if len(older) != 2 || older[0] != (OlderGeneration{Generation: 1, Pid: 101, State: StateDraining, Started: at}) ||
		older[1].Pid != 102 {
		t.Errorf("older generations: %+v", older)
	}
}

// What a readiness probe hears, by state: a generation that drains after
// a handover is still "ready" (its successor took the sockets); one that
// was stopped is not.
func TestReadinessFollowsTheState(t *testing.T) {
	for _, tc := range []struct {
		state     State
		stopAsked bool
		want      flipd.Readiness
		ready     bool
	}{
		{StateStarting, false, flipd.ReadinessReady, true},
		{StateActive, false, flipd.ReadinessReady, true},
		{StateActive, true, flipd.ReadinessReady, true}, // a stop passed on to a reload in flight
		{StateStopping, true, flipd.ReadinessStopping, false},
		{StateDraining, false, flipd.ReadinessHandedOver, true},
		{StateDraining, true, flipd.ReadinessDraining, false},
	} {
		in := &Instance{state: tc.state, stopAsked: tc.stopAsked}
		if got := in.Readiness(); got != tc.want || got.Ready() != tc.ready {
			t.Errorf("state %q, stop asked %v: readiness %q (ready %v), want %q (ready %v)",
				tc.state, tc.stopAsked, got, got.Ready(), tc.want, tc.ready)
		}
	}
}

// handoverListener is a test listener that hands over what it inherited
// and one more "x".
type handoverListener struct{ testListener }

func (*handoverListener) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "listeners.testhandover", New: func() flipd.Module { return new(handoverListener) }}
}

func (h *handoverListener) Provision(ctx flipd.Context) error {
	inherited := string(ctx.Inherited("count"))
	ctx.Handover("count", func() []byte { return []byte(inherited + "x") })
	return nil
}

func init() { flipd.RegisterModule(new(handoverListener)) }

// What a module hands over at a reload reaches the module in the next
// generation, which hands it on in turn.
func TestWhatModulesHandOverReachesTheNextGeneration(t *testing.T) {
	config := `{"admin": {"disabled": true}, "storage": {"dir": "` + t.TempDir() + `"},
		"listeners": {"h": {"address": "tcp/127.0.0.1:0", "module": "testhandover"}}}`
	handedOver := func(f *fakeUpgrader) string {
		var p payload
		if err := json.Unmarshal(f.lastUpgrade(t).Payload, &p); err != nil {
			t.Fatal(err)
		}
		return string(p.State["count"])
	}
	first := newFakeUpgrader(1)
	in := startOn(t, first, config, Options{})
	if _, err := in.Reload([]byte(config), ReloadOptions{Source: "api"}); err != nil {
		t.Fatal(err)
	}
	if got := handedOver(first); got != "x" {
		t.Fatalf("the first generation handed over %q, want x", got)
	}
	second := newFakeUpgrader(2)
	second.payload = first.lastUpgrade(t).Payload
	next := startOn(t, second, "", Options{})
	if _, err := next.Reload([]byte(config), ReloadOptions{Source: "api"}); err != nil {
		t.Fatal(err)
	}
	if got := handedOver(second); got != "xx" {
		t.Errorf("the second generation handed over %q, want xx: it did not get the first one's", got)
	}
}
