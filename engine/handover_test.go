package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd/upgrade"
)

// When the generation that took over exits while this one drains, the
// operator hears it from flipd; once this one has drained, it says
// nothing more.
func TestTheNewGenerationExitingWhileThisOneDrainsIsLogged(t *testing.T) {
	for _, tc := range []struct {
		name    string
		exited  bool // the new generation exited
		drained bool // this one drained
		want    string
	}{
		{name: "it exits", exited: true, want: "the new generation exited while this one drains"},
		{name: "this one drained first", drained: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			in := &Instance{log: hclog.New(&hclog.LoggerOptions{Output: &logs}), done: make(chan struct{})}
			exited := make(chan struct{})
			if tc.exited {
				close(exited)
			}
			if tc.drained {
				close(in.done)
			}
			in.watchNewGeneration(upgrade.Child{Pid: 4246, Generation: 2, Exited: exited})
			got := logs.String()
			if tc.want == "" && got != "" {
				t.Errorf("logged %q, want nothing", got)
			}
			if tc.want != "" && (!strings.Contains(got, tc.want) || !strings.Contains(got, "new_pid=4246")) {
				t.Errorf("logged %q, want %q with the new pid", got, tc.want)
			}
		})
	}
}

// A reload whose new generation serves, but will not be able to save its
// config for --resume, succeeds with a warning that says so.
func TestAReloadThatCannotSaveItsConfigWarns(t *testing.T) {
	in := startOn(t, newFakeUpgrader(1), testConfig(t, ""), Options{})
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	config := `{"admin": {"disabled": true}, "storage": {"dir": "` + file + `/storage"},
		"listeners": {"t": {"address": "tcp/127.0.0.1:0", "module": "test"}}}`
	res, err := in.Reload([]byte(config), ReloadOptions{Source: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Warning, file) {
		t.Errorf("warning %q, want it to name %s", res.Warning, file)
	}
}

// A new generation that says ready and dies at once is reported even when
// this generation drained in a millisecond: before it exits, it watches
// the new one for what is left of newGenerationSettle. One that lives on
// is not reported, and the wait ends.
func TestANewGenerationThatDiesRightAfterTheHandoverIsReported(t *testing.T) {
	for _, tc := range []struct {
		name string
		dies bool
		want string
	}{
		{name: "it dies within the settle time", dies: true, want: "the new generation exited while this one drains"},
		{name: "it lives on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			in := &Instance{log: hclog.New(&hclog.LoggerOptions{Output: &logs}), done: make(chan struct{})}
			exited := make(chan struct{})
			in.newGen, in.newGenSince = upgrade.Child{Pid: 4247, Generation: 3, Exited: exited}, time.Now()
			if tc.dies {
				go func() { time.Sleep(newGenerationSettle / 5); close(exited) }()
			}
			in.settleNewGeneration() // returns by newGenerationSettle after newGenSince
			got := logs.String()
			if tc.want == "" && got != "" {
				t.Errorf("logged %q, want nothing", got)
			}
			if tc.want != "" && (!strings.Contains(got, tc.want) || !strings.Contains(got, "new_pid=4247")) {
				t.Errorf("logged %q, want %q with the new pid", got, tc.want)
			}
		})
	}
}
