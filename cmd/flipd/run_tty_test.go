//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunCtrlCInATerminalDrainsOnce starts `flipd run` in a terminal, as
// a shell does, reloads it, and types Ctrl-C: the terminal signals the
// foreground group, which holds the supervisor only, so the serving
// generation sees one SIGINT and drains (the request generation 1 still
// serves completes), and flipd run, the pid the shell waits on, exits 0.
func TestRunCtrlCInATerminalDrainsOnce(t *testing.T) {
	master, slave := openPty(t)
	up := startHeldUpstream(t)
	admin, web := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	config, logPath := filepath.Join(dir, "flipd.json"), filepath.Join(dir, "flipd.log")
	write := func(n int) {
		if err := os.WriteFile(config, []byte(chaosConfig(admin, web, up.addr, "", fmt.Sprintf("generation=%d", n))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	cmd := startOnTerminal(t, slave, logPath, flipdBin, "run", "--config", config)
	s := &supervised{t: t, cmd: cmd, addr: web, logFile: logPath, exited: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		for _, pid := range liveProcessesWith(config) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		<-s.exited
		if t.Failed() {
			t.Logf("flipd run log:\n%s", s.log())
		}
	})
	s.waitGeneration(1, 20*time.Second)
	held := up.inFlight(t, web)
	write(2)
	signalPid(t, cmd.Process.Pid, syscall.SIGHUP)
	s.waitGeneration(2, 20*time.Second)
	s.waitLog("supervisor: generation serves", 1)

	if _, err := master.Write([]byte{0x03}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	s.waitLog("stopping:", 1)
	time.Sleep(200 * time.Millisecond) // time for a second stop to show
	select {
	case <-s.exited:
		t.Fatalf("flipd run exited (%v) with a request in flight", s.err)
	default:
	}
	close(up.release)
	if got := <-held; got != "200 held" {
		t.Errorf("the request generation 1 was serving got %q, want \"200 held\"", got)
	}
	if code := s.waitExit(30 * time.Second); code != 0 {
		t.Errorf("flipd run exited with status %d after Ctrl-C, want 0", code)
	}
	r := &flipdRun{supervised: s, config: config, web: web}
	r.requireAllGone()
	r.requireGenerationsExited0()
	if n := strings.Count(s.log(), "stopping:"); n != 1 || strings.Contains(s.log(), "second interrupt") {
		t.Errorf("the generations logged %d stops after one Ctrl-C, want 1 and no forced close", n)
	}
}
