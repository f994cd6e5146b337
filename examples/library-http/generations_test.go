//go:build unix

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const poll = 5 * time.Millisecond

// generations follows the example's processes: every pid the pid file has
// named, oldest first. Only the test goroutine uses it.
type generations struct {
	t       *testing.T
	exe     string
	pidFile string
	logPath string

	pids   []int                      // every generation seen, oldest first
	gone   map[int]bool               // those known to have exited
	status map[int]syscall.WaitStatus // of those this process reaped
}

// start starts generation 1 and waits until it is ready.
func (g *generations) start(addr string) {
	g.t.Helper()
	logFile, err := os.Create(g.logPath)
	if err != nil {
		g.t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(g.exe, "-listen", addr, "-pid-file", g.pidFile, "-drain-timeout", "20s", "-log-level", "debug")
	// A file, not a pipe: every generation inherits it, and no goroutine
	// of this process has to copy their output.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	pid := cmd.Process.Pid
	// Reaped by pid, like the later generations, which are not our
	// children until their parent exits.
	cmd.Process.Release()
	g.pids = append(g.pids, pid)

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if p, err := g.readPID(); err == nil && p == pid {
			return
		}
		if g.exited(pid) {
			g.t.Fatalf("generation 1 (pid %d) exited before it was ready: %s", pid, describe(g.status[pid]))
		}
		time.Sleep(poll)
	}
	g.t.Fatalf("generation 1 (pid %d) did not write the pid file within 10s", pid)
}

// upgrade sends SIGHUP to the current generation until the pid file names
// a new one, and reports how many signals it took. A SIGHUP is sent again
// after a second without a new pid: the first may have been refused.
func (g *generations) upgrade(timeout time.Duration) (sent int) {
	g.t.Helper()
	cur := g.current()
	deadline := time.Now().Add(timeout)
	var resend time.Time // zero: send now
	for {
		// Checked before the pid file: a handover can complete and the
		// old generation drain and exit between the two looks. Both are
		// checked before every SIGHUP: when this process was stalled for
		// longer than the resend interval (a busy machine), the upgrade
		// the last SIGHUP asked for may be over and the generation gone.
		exited := g.exited(cur)
		if pid, err := g.readPID(); err == nil && pid != cur {
			g.pids = append(g.pids, pid)
			return sent
		}
		if exited {
			g.t.Fatalf("pid %d exited while upgrading, and the pid file still names it", cur)
		}
		now := time.Now()
		if now.After(deadline) {
			g.t.Fatalf("no new generation after %v and %d SIGHUPs to pid %d", timeout, sent, cur)
		}
		if !now.Before(resend) {
			if err := syscall.Kill(cur, syscall.SIGHUP); err != nil && !errors.Is(err, syscall.ESRCH) {
				g.t.Fatalf("SIGHUP to generation pid %d: %v", cur, err)
			}
			sent++
			resend = now.Add(time.Second)
		}
		time.Sleep(poll)
	}
}

// waitDraining waits until at most max generations older than the current
// one are alive.
func (g *generations) waitDraining(max int, timeout time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		older := g.alive()[:0:0]
		for _, pid := range g.alive() {
			if pid != g.current() {
				older = append(older, pid)
			}
		}
		if len(older) <= max {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("older generations %v still alive after %v", older, timeout)
		}
		time.Sleep(poll)
	}
}

// requireOnlyInstance checks that pid is the one process of the example
// left, among the generations seen and, where the system tells, among all
// processes.
func (g *generations) requireOnlyInstance(pid int) {
	g.t.Helper()
	if alive := g.alive(); !slices.Equal(alive, []int{pid}) {
		g.t.Fatalf("generations alive: %v, want only %d", alive, pid)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		running, ok := instances(g.exe)
		if !ok || slices.Equal(running, []int{pid}) {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("processes running %s: %v, want only %d", g.exe, running, pid)
		}
		time.Sleep(poll)
	}
}

// stop sends SIGTERM to pid and waits until it has exited, successfully.
func (g *generations) stop(pid int, timeout time.Duration) {
	g.t.Helper()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		g.t.Fatalf("SIGTERM to pid %d: %v", pid, err)
	}
	deadline := time.Now().Add(timeout)
	for !g.exited(pid) {
		if time.Now().After(deadline) {
			g.t.Fatalf("pid %d still alive %v after SIGTERM", pid, timeout)
		}
		time.Sleep(poll)
	}
	if ws, ok := g.status[pid]; ok && (!ws.Exited() || ws.ExitStatus() != 0) {
		g.t.Errorf("pid %d ended with %s after SIGTERM, want exit status 0", pid, describe(ws))
	}
	if running, _ := instances(g.exe); len(running) > 0 {
		g.t.Errorf("processes running %s after the last generation stopped: %v", g.exe, running)
	}
}

// killAll kills whatever generation is left and reaps it, also one the
// test has not recorded yet because it failed in the middle of an upgrade.
func (g *generations) killAll() {
	unseen, _ := instances(g.exe)
	if pid, err := g.readPID(); err == nil {
		unseen = append(unseen, pid)
	}
	for _, pid := range unseen {
		if !slices.Contains(g.pids, pid) {
			g.pids = append(g.pids, pid)
		}
	}
	for _, pid := range g.alive() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(g.alive()) > 0 && time.Now().Before(deadline) {
		time.Sleep(poll)
	}
	if alive := g.alive(); len(alive) > 0 {
		g.t.Errorf("pids %v survived SIGKILL", alive)
	}
}

func (g *generations) current() int { return g.pids[len(g.pids)-1] }

// alive lists the generations seen that have not exited, oldest first.
func (g *generations) alive() []int {
	var pids []int
	for _, pid := range g.pids {
		if !g.exited(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// exited reports whether pid has exited, and reaps it if it is our child:
// a generation whose parent generation exited has been re-parented to this
// process (see becomeSubreaper). Only known pids are waited for.
func (g *generations) exited(pid int) bool {
	if g.gone == nil {
		g.gone = make(map[int]bool)
		g.status = make(map[int]syscall.WaitStatus)
	}
	if g.gone[pid] {
		return true
	}
	var ws syscall.WaitStatus
	got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	switch {
	case err == nil && got == pid:
		g.gone[pid], g.status[pid] = true, ws
		return true
	case err == nil || !errors.Is(err, syscall.ECHILD):
		return false // our child, still running (or EINTR: ask again later)
	}
	// Not our child: its parent generation is alive and reaps it, or it
	// is gone.
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		g.gone[pid] = true
		return true
	}
	return false
}

func (g *generations) readPID() (int, error) {
	b, err := os.ReadFile(g.pidFile)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// logLines returns the lines of the example's log that contain substr.
func (g *generations) logLines(substr string) []string {
	f, err := os.Open(g.logPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.Contains(s.Text(), substr) {
			lines = append(lines, s.Text())
		}
	}
	return lines
}

// refusals counts the upgrades the example logged as failed, by error.
func (g *generations) refusals() map[string]int {
	errs := make(map[string]int)
	for _, line := range g.logLines("upgrade failed") {
		_, msg, _ := strings.Cut(line, "error=")
		errs[msg]++
	}
	return errs
}

func (g *generations) dumpLog() {
	lines := g.logLines("")
	const tail = 80
	if len(lines) > tail {
		lines = lines[len(lines)-tail:]
	}
	g.t.Logf("last %d lines of the example's log:\n%s", len(lines), strings.Join(lines, "\n"))
}

func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return fmt.Sprintf("signal %v", ws.Signal())
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}
