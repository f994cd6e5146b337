//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startSlowStarting starts flipd from a copy of the binary, then puts in
// its place a script that waits a few seconds before it runs the real
// binary: the next generation is slow to start, as a big config or a
// slow disk makes it, and stays "starting" long enough for a test to
// act meanwhile.
func startSlowStarting(t *testing.T, config string) *daemon {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("needs bash for the slow-starting wrapper")
	}
	exe := copyBinary(t)
	dir := filepath.Dir(exe)
	real, fifo := filepath.Join(dir, "flipd-real"), filepath.Join(dir, "wait")
	if err := os.Link(exe, real); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	d := launch(t, config, launchOptions{bin: exe, dir: dir})
	// read -t is a bash builtin: no process that could keep the
	// inherited sockets open after the script is killed.
	script := fmt.Sprintf("#!%s\nread -t 5 <>%q\nexec %q \"$@\"\n", bash, fifo, real)
	replaceFile(t, exe, script)
	return d
}

// waitStarting waits until a second process of this daemon runs: the
// new generation, still starting.
func (d *daemon) waitStarting() int {
	d.t.Helper()
	var child int
	d.waitFor("the new generation to start", func() bool {
		for _, pid := range processesWith(d.config) {
			if pid != d.cmd.Process.Pid {
				child = pid
				d.pids[pid] = true
				return true
			}
		}
		return false
	})
	return child
}

// waitAllGone waits for flipd run to exit, checks that it exited 0, and
// that no process of this daemon is left and addr no longer listens.
func (d *daemon) waitAllGone(addr string) {
	d.t.Helper()
	d.waitStopped(30 * time.Second)
	d.waitFor("every generation to exit", func() bool {
		for _, pid := range processesWith(d.config) {
			if !reaped(pid, d.cmd) {
				return false
			}
		}
		return true
	})
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		d.t.Fatalf("%s still listens after the stop; log:\n%s", addr, d.log())
	}
}

func TestSIGTERMWhileANewGenerationStartsStopsEveryGeneration(t *testing.T) {
	addr := freeAddr(t)
	d := startSlowStarting(t, staticConfig(addr, "one"))
	d.writeConfig(staticConfig(addr, "two"))
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitStarting()
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.waitAllGone(addr)
}

func TestAdminStopDuringLoadStopsEveryGeneration(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	d := startSlowStarting(t, adminConfig(admin, addr, "one"))
	loaded := make(chan apiAnswer, 1)
	go func() { loaded <- api(t, "POST", "http://"+admin+"/load", adminConfig(admin, addr, "two")) }()
	d.waitStarting()
	if a := api(t, "POST", "http://"+admin+"/stop", ""); a.status != 202 {
		t.Fatalf("POST /stop: %d %s", a.status, a.raw)
	}
	if a := <-loaded; a.status == 200 {
		t.Logf("the load completed before the stop: %s", a.raw)
	}
	d.waitAllGone(addr)
}

// Ctrl-C in a terminal sends SIGINT to the whole process group: a
// draining generation gets its first interrupt too, and must go on
// draining; only a second SIGINT to the same process closes at once.
func TestOneSIGINTToEveryGenerationLetsTheDrainFinish(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	d := startFlipd(t, adminConfig(admin, addr, "one"))
	slow := getSlow(addr)
	// The request is in flight in generation 1 (the status request is
	// the other connection).
	d.waitFor("the slow request to reach generation 1", func() bool {
		st := api(t, "GET", "http://"+admin+"/status", "")
		gens, _ := st.body["generations"].([]any)
		if len(gens) == 0 {
			return false
		}
		conns, _ := gens[0].(map[string]any)["open_conns"].(float64)
		return conns >= 2
	})
	old := d.pid()
	d.reload(adminConfig(admin, addr, "two"))
	waitAnswer(t, "http://"+addr+"/", "two")
	syscall.Kill(old, syscall.SIGINT)
	syscall.Kill(d.pid(), syscall.SIGINT)
	if got := <-slow; got != "slow" {
		t.Fatalf("the request in flight got %q after one SIGINT to each generation; log:\n%s", got, d.log())
	}
	if !strings.Contains(d.log(), "stopping") {
		t.Fatalf("no generation logged that it stops:\n%s", d.log())
	}
	d.waitAllGone(addr)
}
