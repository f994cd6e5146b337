//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/flipd/flipd"
)

// hookProbe is a ConnHandler listener module that appends "start <pid>"
// and "stop <pid>" to the file Record names when its hooks run, and
// fails its Start with FailStart's message when that is set.
type hookProbe struct {
	Record    string `json:"record"`
	FailStart string `json:"fail_start,omitempty"`
}

func (*hookProbe) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "listeners.hook_probe", New: func() flipd.Module { return new(hookProbe) }}
}

func (p *hookProbe) note(event string) error {
	f, err := os.OpenFile(p.Record, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%s %d\n", event, os.Getpid())
	return err
}

func (p *hookProbe) Start(ctx context.Context) error {
	if err := p.note("start"); err != nil {
		return err
	}
	if p.FailStart != "" {
		return errors.New(p.FailStart)
	}
	return nil
}

func (p *hookProbe) Stop(ctx context.Context) error { return p.note("stop") }

func (p *hookProbe) ServeConn(ctx context.Context, c net.Conn) error {
	_, err := fmt.Fprintln(c, "probe")
	return err
}

func init() { flipd.RegisterModule(new(hookProbe)) }

// A module's Start runs only in the generation about to serve: not when
// the config is validated, not in the generation that serves already. A
// Start that fails fails the reload with the module's own message, and
// the old generation serves on; Stop runs in the generation that hands
// over, as it starts to drain.
func TestModuleHooksRunInTheirGenerationAndAFailedStartFailsTheReload(t *testing.T) {
	admin, addr, probe := freeAddr(t), freeAddr(t), freeAddr(t)
	record := t.TempDir() + "/hooks"
	withProbe := func(body, failStart string) string {
		return strings.Replace(adminConfig(admin, addr, body), `"listeners": {`,
			fmt.Sprintf(`"listeners": {"probe": {"address": "tcp/%s", "module": "hook_probe", "record": %q, "fail_start": %q}, `, probe, record, failStart), 1)
	}
	events := func() string {
		b, _ := os.ReadFile(record)
		return string(b)
	}
	config := withProbe("one", "")
	d := startTestFlipd(t, config)
	first := d.cmd.Process.Pid
	if got, want := events(), fmt.Sprintf("start %d\n", first); got != want {
		t.Fatalf("after the first generation started, the hooks recorded %q; want %q", got, want)
	}

	a := api(t, "POST", "http://"+admin+"/load", withProbe("two", "hook_probe: the database is unreachable"))
	if a.status != 422 || !strings.Contains(a.raw, `listener \"probe\"`) || !strings.Contains(a.raw, "hook_probe: the database is unreachable") {
		t.Fatalf("POST /load with a module whose Start fails: %d %s; want 422 with the module's message", a.status, a.raw)
	}
	if got := get(t, "http://"+addr+"/"); got != "one" {
		t.Fatalf("after the failed reload the answer is %q", got)
	}
	if p := d.pid(); p != first {
		t.Fatalf("pid file names %d, want generation 1's %d", p, first)
	}
	lines := strings.Split(strings.TrimSpace(events()), "\n")
	if len(lines) != 2 || lines[0] != fmt.Sprintf("start %d", first) || !strings.HasPrefix(lines[1], "start ") || lines[1] == lines[0] {
		t.Fatalf("after the failed reload the hooks recorded %q; want generation 1's start, then one start by the new process (none by the validation)", lines)
	}

	a = api(t, "POST", "http://"+admin+"/load", withProbe("three", ""))
	if a.status != 200 {
		t.Fatalf("POST /load: %d %s", a.status, a.raw)
	}
	second := int(a.body["pid"].(float64))
	d.waitExit(first)
	want := []string{fmt.Sprintf("start %d", second), fmt.Sprintf("stop %d", first)}
	lines = strings.Split(strings.TrimSpace(events()), "\n")
	if len(lines) != 4 || lines[2] != want[0] || lines[3] != want[1] {
		t.Fatalf("after the reload the hooks recorded %q; want it to end with %q", lines, want)
	}
	if got := get(t, "http://"+addr+"/"); got != "three" {
		t.Fatalf("after the reload the answer is %q", got)
	}
}
