package engine

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/upgrade"
)

// A reload validates, starts the new generation and returns once it
// serves, saying so at each step; this generation then drains, and a
// probe still hears "ready" from it: the new one has the sockets.
func TestAReloadHandsOverAndSaysSoAtEachStep(t *testing.T) {
	f := newFakeUpgrader(1)
	pidFile := pidFilePath(t)
	in := startOn(t, f, testConfig(t, ""), Options{PIDFile: pidFile})
	var steps []Progress
	res, err := in.Reload([]byte(testConfig(t, `"timeout": "5s", "max_draining": 3`)),
		ReloadOptions{Source: "api", Progress: func(p Progress) { steps = append(steps, p) }})
	if err != nil {
		t.Fatal(err)
	}
	want := []Progress{{Step: "validated", Generation: 2}, {Step: "started", Generation: 2, Pid: 4242},
		{Step: "ready", Generation: 2, Pid: 4242}}
	if !reflect.DeepEqual(steps, want) {
		t.Errorf("progress %+v\nwant %+v", steps, want)
	}
	if res.Generation != 2 || res.Pid != 4242 || res.Draining.Generation != 1 || res.Draining.Pid != os.Getpid() ||
		res.Draining.State != StateDraining || res.Warning != "" {
		t.Errorf("result %+v", res)
	}
	opts := f.lastUpgrade(t)
	if opts.Timeout.String() != "5s" || opts.MaxDraining != 3 || !opts.ConfigOnly {
		t.Errorf("the upgrade was asked for with timeout %s, max_draining %d, config only %v; want the new config's, true",
			opts.Timeout, opts.MaxDraining, opts.ConfigOnly)
	}
	waitDone(t, in)
	if st, r := in.Status().State, in.Readiness(); st != StateDraining || r != flipd.ReadinessHandedOver {
		t.Errorf("after the handover: state %q, readiness %q; want %q, %q", st, r, StateDraining, flipd.ReadinessHandedOver)
	}
	if pids := f.signalledPids(); len(pids) != 0 {
		t.Errorf("the new generation was told to stop: %v", pids)
	}
	if pidFileNames(t, pidFile) == "" {
		t.Error("the PID file was removed after a handover: it is the new generation's now")
	}
	// Only the newest generation reloads.
	if _, err := in.Reload([]byte(testConfig(t, "")), ReloadOptions{Source: "api"}); !errors.Is(err, upgrade.ErrAlreadyUpgraded) {
		t.Errorf("a reload after the handover: %v, want ErrAlreadyUpgraded", err)
	}
	if n := in.Stats().Upgrades["refused"]; n != 1 {
		t.Errorf("%d reloads recorded as refused, want 1", n)
	}
}

// Upgrade starts the binary anew with the config in effect, from the
// source it came from.
func TestUpgradeStartsTheBinaryAnewWithTheConfigInEffect(t *testing.T) {
	f := newFakeUpgrader(1)
	config := testConfig(t, "")
	in := startOn(t, f, config, Options{})
	if _, err := in.Upgrade(ReloadOptions{}); err != nil {
		t.Fatal(err)
	}
	opts := f.lastUpgrade(t)
	var p payload
	if err := json.Unmarshal(opts.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if opts.ConfigOnly || string(p.Config) != config || p.Source != "test" || p.Version != payloadVersion {
		t.Errorf("upgrade: config only %v, payload version %d, source %q, config\n%s", opts.ConfigOnly, p.Version, p.Source, p.Config)
	}
}

// A reload that fails leaves this generation serving, says why with a
// typed error, and is recorded with its result; a child that ran may
// have written the PID file, which names this generation again after.
func TestAFailedReloadLeavesThisGenerationServing(t *testing.T) {
	childErr := &upgrade.ChildError{Generation: 2, Pid: 4243, Reason: upgrade.ReasonReported, Message: "no certificate"}
	for _, tc := range []struct {
		name    string
		config  string
		elders  []upgrade.Elder
		child   func(pidFile string) func(upgrade.UpgradeOptions, <-chan struct{}) (upgrade.Child, error)
		as      any // a pointer to the error type errors.As must find
		result  string
		pid     int
		upgrade bool // whether an upgrade was asked for
	}{
		{name: "the config does not load", config: `{"listeners": {"t": {"address": "tcp/127.0.0.1:0", "module": "nope"}}}`,
			as: new(*flipd.ConfigError), result: "invalid_config"},
		{name: "the new generation fails", as: new(*upgrade.ChildError), result: "failed", pid: 4243, upgrade: true,
			child: func(pidFile string) func(upgrade.UpgradeOptions, <-chan struct{}) (upgrade.Child, error) {
				return func(upgrade.UpgradeOptions, <-chan struct{}) (upgrade.Child, error) {
					if err := os.WriteFile(pidFile, []byte("4243\n"), 0o644); err != nil {
						t.Error(err)
					}
					return upgrade.Child{}, childErr
				}
			}},
		{name: "too many generations drain", elders: []upgrade.Elder{{Pid: 101}, {Pid: 102}}, as: new(*upgrade.DrainingError),
			result: "refused", upgrade: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeUpgrader(1)
			f.elders = tc.elders
			pidFile := pidFilePath(t)
			if tc.child != nil {
				f.child = tc.child(pidFile)
			}
			in := startOn(t, f, testConfig(t, ""), Options{PIDFile: pidFile})
			config := tc.config
			if config == "" {
				config = testConfig(t, "")
			}
			_, err := in.Reload([]byte(config), ReloadOptions{Source: "api"})
			if err == nil || !errors.As(err, tc.as) {
				t.Fatalf("reload: %v, want a %T", err, reflect.ValueOf(tc.as).Elem().Interface())
			}
			f.mu.Lock()
			asked := len(f.upgrades) > 0
			f.mu.Unlock()
			if asked != tc.upgrade {
				t.Errorf("an upgrade was asked for: %v, want %v", asked, tc.upgrade)
			}
			if st, r := in.Status().State, in.Readiness(); st != StateActive || r != flipd.ReadinessReady || f.stops() != 0 {
				t.Errorf("after the failed reload: state %q, readiness %q, %d stops; want it serving", st, r, f.stops())
			}
			stats := in.Stats()
			if stats.Upgrades[tc.result] != 1 || len(stats.History) != 1 {
				t.Fatalf("stats: %v, history %+v; want one %q", stats.Upgrades, stats.History, tc.result)
			}
			rec := stats.History[0]
			if rec.From != 1 || rec.To != 2 || rec.Pid != tc.pid || rec.Result != tc.result || rec.Source != "api" ||
				rec.Error != err.Error() || rec.Started.IsZero() {
				t.Errorf("recorded as %+v", rec)
			}
			if stats.UpgradeSeconds.Count != 0 {
				t.Errorf("a failed reload was timed as a successful one")
			}
			if got, want := pidFileNames(t, pidFile), strconv.Itoa(os.Getpid())+"\n"; got != want {
				t.Errorf("the PID file names %q, want this generation, %q", got, want)
			}
		})
	}
}

// A reload asked for while another is in flight is refused at once; the
// one in flight goes on.
func TestASecondReloadWhileOneIsInFlightIsRefused(t *testing.T) {
	f := newFakeUpgrader(1)
	release := make(chan struct{})
	f.child = func(opts upgrade.UpgradeOptions, stop <-chan struct{}) (upgrade.Child, error) {
		<-release
		return childServes(4242)(opts, stop)
	}
	in := startOn(t, f, testConfig(t, ""), Options{})
	first := make(chan error, 1)
	go func() {
		_, err := in.Reload([]byte(testConfig(t, "")), ReloadOptions{Source: "api"})
		first <- err
	}()
	<-f.upgradeStarted
	_, err := in.Reload([]byte(testConfig(t, "")), ReloadOptions{Source: "signal"})
	close(release)
	if !errors.Is(err, upgrade.ErrUpgradeInProgress) {
		t.Errorf("the second reload: %v, want ErrUpgradeInProgress", err)
	}
	if err := <-first; err != nil {
		t.Errorf("the first reload: %v", err)
	}
	h := in.Stats().History
	if len(h) != 1 || h[0].Result != "refused" || h[0].Source != "signal" {
		t.Errorf("history %+v, want the second reload refused", h)
	}
}

// A stop that comes during a reload wins: if the new generation is not
// ready yet, the upgrade is cancelled and this generation drains for
// good; if it became ready at that moment, it is told to stop too. With a
// shutdown delay the same holds: the stop is passed on.
func TestAStopDuringAReloadWins(t *testing.T) {
	for _, tc := range []struct {
		name    string
		upgrade string
		// ready: the new generation gets ready although the stop came.
		ready bool
	}{
		{name: "the upgrade is cancelled"},
		{name: "the new generation is told to stop", ready: true},
		{name: "with a shutdown delay the new generation is told to stop", upgrade: `"shutdown_delay": "1m"`, ready: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeUpgrader(1)
			pidFile := pidFilePath(t)
			stopNow := make(chan struct{})
			stopped := make(chan struct{})
			f.child = func(opts upgrade.UpgradeOptions, stop <-chan struct{}) (upgrade.Child, error) {
				opts.Started(4244)
				close(stopNow)
				<-stopped // the test's Stop returned
				if tc.ready {
					// A new generation writes the PID file once it has
					// said it is ready.
					if err := os.WriteFile(pidFile, []byte("4244\n"), 0o644); err != nil {
						t.Error(err)
					}
					return upgrade.Child{Pid: 4244, Generation: 2}, nil
				}
				<-stop
				return upgrade.Child{}, &upgrade.ChildError{Generation: 2, Pid: 4244, Reason: upgrade.ReasonStopped}
			}
			in := startOn(t, f, testConfig(t, tc.upgrade), Options{PIDFile: pidFile})
			reloaded := make(chan error, 1)
			go func() {
				_, err := in.Reload([]byte(testConfig(t, "")), ReloadOptions{Source: "api"})
				reloaded <- err
			}()
			<-stopNow
			in.Stop()
			close(stopped)
			err := <-reloaded
			var ce *upgrade.ChildError
			if tc.ready != (err == nil) || !tc.ready && (!errors.As(err, &ce) || ce.Reason != upgrade.ReasonStopped) {
				t.Fatalf("reload: %v", err)
			}
			var want []int
			if tc.ready {
				want = []int{4244}
			}
			if got := f.signalledPids(); !reflect.DeepEqual(got, want) {
				t.Errorf("told to stop: %v, want %v", got, want)
			}
			waitDone(t, in)
			if r := in.Readiness(); r != flipd.ReadinessDraining {
				t.Errorf("after the stop: readiness %q, want %q", r, flipd.ReadinessDraining)
			}
			// The PID file goes with a final stop; after a handover it is
			// the new generation's.
			wantPid := ""
			if tc.ready {
				wantPid = "4244\n"
			}
			if got := pidFileNames(t, pidFile); got != wantPid {
				t.Errorf("the PID file names %q, want %q", got, wantPid)
			}
		})
	}
}

// A stop during a reload that it cancelled leaves no PID file behind,
// whichever comes first: this generation's drain, or its fixing up the
// PID file after the failed upgrade; and whether or not the cancelled
// generation had written it. (It was left naming this process, or the
// cancelled one, after it exited.)
func TestAStopThatCancelsAReloadLeavesNoPIDFile(t *testing.T) {
	for _, tc := range []struct {
		name            string
		childWrote      bool
		replyAfterDrain bool
	}{
		{"the reply and the drain race", false, false},
		{"the drain ends before the reply is heard", false, true},
		{"the cancelled generation wrote it, and the reply and the drain race", true, false},
		{"the cancelled generation wrote it, and the drain ends first", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeUpgrader(1)
			f.replyAfterDrain = tc.replyAfterDrain
			pidFile := pidFilePath(t)
			started := make(chan struct{})
			f.child = func(opts upgrade.UpgradeOptions, stop <-chan struct{}) (upgrade.Child, error) {
				if tc.childWrote {
					if err := os.WriteFile(pidFile, []byte("4245\n"), 0o644); err != nil {
						t.Error(err)
					}
				}
				close(started)
				<-stop
				return upgrade.Child{}, &upgrade.ChildError{Generation: 2, Pid: 4245, Reason: upgrade.ReasonStopped}
			}
			in := startOn(t, f, testConfig(t, ""), Options{PIDFile: pidFile})
			reloaded := make(chan error, 1)
			go func() {
				_, err := in.Reload([]byte(testConfig(t, "")), ReloadOptions{Source: "api"})
				reloaded <- err
			}()
			<-started
			in.Stop()
			if err := <-reloaded; err == nil {
				t.Fatal("the reload succeeded although the stop cancelled it")
			}
			waitDone(t, in)
			if got := pidFileNames(t, pidFile); got != "" {
				t.Errorf("after the final stop the PID file names %q", got)
			}
		})
	}
}
