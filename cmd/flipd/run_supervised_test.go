//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests of this file run `flipd run` as users do, without
// --no-supervisor: the process started is a supervisor that keeps its pid
// for the service's life, and the generations are its descendants.

// flipdRun is a supervised `flipd run` (s.cmd, or a command wrapping it
// such as unshare) with its config file, admin API and web listener.
type flipdRun struct {
	*supervised
	config     string
	configFor  func(admin, web string, n int) string
	admin, web string
	pid        int // the pid an operator signals: the supervisor's
	newest     int // the generation the last reload made
}

// startRun writes config "generation=1" and starts argv with CONFIG and
// PIDFILE replaced, then waits until generation 1 answers. pid is the
// supervisor's pid: the started process's, unless find says otherwise.
func startRun(t *testing.T, argv []string, find func(s *supervised) int) *flipdRun {
	t.Helper()
	return startRunWith(t, runConfig, argv, find)
}

// startRunWith is startRun with configFor making config n.
func startRunWith(t *testing.T, configFor func(admin, web string, n int) string, argv []string, find func(s *supervised) int) *flipdRun {
	t.Helper()
	r := &flipdRun{config: filepath.Join(t.TempDir(), "flipd.json"), configFor: configFor,
		admin: freeAddr(t), web: freeAddr(t), newest: 1}
	r.write(1)
	for i, a := range argv {
		argv[i] = strings.ReplaceAll(a, "CONFIG", r.config)
	}
	r.supervised = startSupervised(t, r.web, argv...)
	t.Cleanup(func() { // after a failure: no generation outlives the test
		for _, pid := range liveProcessesWith(r.config) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	r.waitGeneration(1, 20*time.Second)
	if slices.Contains(argv, r.pidFile) { // written once generation 1 said READY=1
		r.logs().waitFor("the PID file", func() bool { _, err := os.Stat(r.pidFile); return err == nil })
	}
	r.pid = r.cmd.Process.Pid
	if find != nil {
		r.pid = find(r.supervised)
	}
	return r
}

// runConfig serves "generation=N" (what postLoad and ask read) on web.
func runConfig(admin, web string, n int) string {
	return fmt.Sprintf(`{"admin": {"listen": %q}, "upgrade": {"drain_timeout": "20s"}, "listeners": {
		"web": {"address": "tcp/%s", "module": "http", "routes": [
			{"handle": {"module": "static_response", "body": "generation=%d"}}]}}}`, admin, web, n)
}

func (r *flipdRun) write(n int) {
	if err := os.WriteFile(r.config, []byte(r.configFor(r.admin, r.web, n)), 0o600); err != nil {
		panic(err)
	}
}

// reloadBy makes generation r.newest+1 serve, by SIGHUP to the supervisor
// or by POST /load, and waits until the supervisor has heard it serves (so
// that the next signal goes to it). A reload may be refused while too many
// older generations drain: it is tried again, up to 10 times.
func (r *flipdRun) reloadBy(hup bool) {
	r.t.Helper()
	next := r.newest + 1
	r.write(next)
	for try := 0; ; try++ {
		if try == 10 {
			r.t.Fatalf("generation %d did not serve after 10 tries", next)
		}
		if hup {
			signalPid(r.t, r.pid, syscall.SIGHUP)
		} else {
			raw, _ := os.ReadFile(r.config)
			if a := api(r.t, "POST", "http://"+r.admin+"/load", string(raw)); a.status != 200 {
				r.t.Logf("POST /load: %d %s; trying again", a.status, a.raw)
				time.Sleep(200 * time.Millisecond)
				continue
			}
		}
		deadline := time.Now().Add(3 * time.Second)
		for r.generation() < next && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if r.generation() >= next {
			break
		}
	}
	r.newest = next
	// The supervisor logs "generation serves" for generation 2 onwards.
	r.waitLog("supervisor: generation serves", next-1)
}

// reloadsUnderLoad runs superviseReloads reloads, SIGHUP and POST /load in
// turn, under keep-alive POST load, and fails t if a request failed or the
// supervisor exited meanwhile.
func (r *flipdRun) reloadsUnderLoad() {
	r.t.Helper()
	load := startPostLoad(r.web)
	for i := range superviseReloads {
		r.reloadBy(i%2 == 0)
	}
	time.Sleep(300 * time.Millisecond) // the last drains happen under load too
	load.stop(r.t)
	if g := r.generation(); g != superviseReloads+1 {
		r.t.Errorf("generation %d serves after %d reloads, want %d", g, superviseReloads, superviseReloads+1)
	}
	select {
	case <-r.exited:
		r.t.Fatalf("flipd run (pid %d) exited during the reloads: %v", r.cmd.Process.Pid, r.err)
	default:
	}
}

// stopWith sends sig to the supervisor and wants status 0 and no process
// of this config left.
func (r *flipdRun) stopWith(sig syscall.Signal) {
	r.t.Helper()
	signalPid(r.t, r.pid, sig)
	if code := r.waitExit(30 * time.Second); code != 0 {
		r.t.Errorf("flipd run exited with status %d after %v, want 0", code, sig)
	}
	r.requireAllGone()
	r.requireGenerationsExited0()
}

// requireAllGone fails t if a process of this config lives on or the web
// listener still answers.
func (r *flipdRun) requireAllGone() {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(liveProcessesWith(r.config)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if left := liveProcessesWith(r.config); len(left) > 0 {
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		r.t.Errorf("flipd processes left after flipd run exited: %v", left)
	}
	requireNoneLeft(r.t, flipdBin, r.web)
}

// requireGenerationsExited0 fails t if a generation the supervisor reaped
// exited with a status other than 0.
func (r *flipdRun) requireGenerationsExited0() {
	r.t.Helper()
	for _, line := range strings.Split(r.log(), "\n") {
		if strings.Contains(line, "generation exited:") && !strings.Contains(line, " status=0") {
			r.t.Errorf("a generation did not exit with status 0: %s", line)
		}
	}
}

// logs is a daemon for daemon's helpers (waitFor, the gate's failure
// messages) that read a log: the supervisor's.
func (r *flipdRun) logs() *daemon { return &daemon{t: r.t, logFile: r.logFile} }

// liveProcessesWith is processesWith without zombies.
func liveProcessesWith(arg string) []int {
	var live []int
	for _, pid := range processesWith(arg) {
		if f := procStat(pid); len(f) > 0 && f[0] != "Z" {
			live = append(live, pid)
		}
	}
	return live
}

// TestRunKeepsThePidItWasStartedWith starts `flipd run` as a shell does:
// that pid stays alive, in the PID file and in GET /status, across 20
// reloads under load, and SIGTERM to it ends everything with status 0.
func TestRunKeepsThePidItWasStartedWith(t *testing.T) {
	r := startRun(t, []string{flipdBin, "run", "--config", "CONFIG", "--pidfile", "PIDFILE"}, nil)
	requirePIDFile(t, r.pidFile, r.pid)
	r.reloadsUnderLoad()
	requirePIDFile(t, r.pidFile, r.pid)
	if z := zombieChildren(r.pid); len(z) > 0 {
		t.Errorf("the supervisor leaves zombies: %v", z)
	}

	var st statusBody
	a := api(t, "GET", "http://"+r.admin+"/status", "")
	if err := json.Unmarshal([]byte(a.raw), &st); err != nil || st.SupervisorPID != r.pid {
		t.Errorf("GET /status says supervisor_pid %d (%v), want %d: %s", st.SupervisorPID, err, r.pid, a.raw)
	}
	if len(st.Generations) == 0 || st.Generations[0].Pid == r.pid {
		t.Errorf("GET /status lists generations %+v: want the serving one first, not the supervisor", st.Generations)
	}
	out, err := exec.Command(flipdBin, "status", "--address", r.admin).CombinedOutput()
	if want := fmt.Sprintf("supervisor pid %d\n", r.pid); err != nil || !strings.HasPrefix(string(out), want) {
		t.Errorf("flipd status (%v) does not start with %q:\n%s", err, want, out)
	}

	r.stopWith(syscall.SIGTERM)
	if _, err := os.Stat(r.pidFile); !os.IsNotExist(err) {
		t.Errorf("the PID file is still there after flipd run exited: %v", err)
	}
}

// TestRunAsPID1OfANewPIDNamespace runs `flipd run` itself, not through
// flipd supervise, where a container runtime would: as PID 1, whose exit
// kills every process of the namespace.
func TestRunAsPID1OfANewPIDNamespace(t *testing.T) {
	requireUnshare(t)
	r := startRun(t, []string{"unshare", "-pf", "--mount-proc", "--", flipdBin, "run", "--config", "CONFIG", "--pidfile", "PIDFILE"},
		func(s *supervised) int { return childRunning(t, s.cmd.Process.Pid, flipdBin) })
	requirePIDFile(t, r.pidFile, 1) // its pid inside the namespace
	r.reloadsUnderLoad()
	if parentOf(r.pid) != r.cmd.Process.Pid {
		t.Fatalf("PID 1 of the namespace (pid %d outside) is gone", r.pid)
	}
	r.stopWith(syscall.SIGTERM)
	if !strings.Contains(r.log(), "every generation is gone; exiting") {
		t.Error("PID 1 did not log that it waited for every generation")
	}
}

// TestRunUnderFlipdSuperviseDoesNotStackASupervisor runs `flipd supervise
// -- flipd run`: flipd run serves as the supervisor's generation instead
// of starting a supervisor of its own, and so do the generations after it.
func TestRunUnderFlipdSuperviseDoesNotStackASupervisor(t *testing.T) {
	r := startRun(t, []string{flipdBin, "supervise", "--pidfile", "PIDFILE", "--", flipdBin, "run", "--config", "CONFIG"}, nil)
	for i := range 3 {
		r.reloadBy(i%2 == 0)
	}
	// A second supervisor, in generation 1 or in a later one that
	// missed the hint, would log its own start.
	if n := strings.Count(r.log(), "started generation 1"); n != 1 {
		t.Errorf("%d supervisors started, want 1", n)
	}
	requirePIDFile(t, r.pidFile, r.pid)
	r.stopWith(syscall.SIGTERM)
}

// TestRunWithNoSupervisorServesInTheProcessStarted keeps the chain model:
// the process started serves, and the PID file follows the generations.
func TestRunWithNoSupervisorServesInTheProcessStarted(t *testing.T) {
	admin, web := freeAddr(t), freeAddr(t)
	d := startFlipd(t, runConfig(admin, web, 1)) // the harness passes --no-supervisor
	if d.pid() != d.cmd.Process.Pid {
		t.Fatalf("the PID file names %d, want the process started (%d)", d.pid(), d.cmd.Process.Pid)
	}
	if next := d.reload(runConfig(admin, web, 2)); next == d.cmd.Process.Pid {
		t.Fatalf("the PID file still names the first generation after a reload")
	}
	a := api(t, "GET", "http://"+admin+"/status", "")
	if strings.Contains(a.raw, "supervisor_pid") {
		t.Errorf("GET /status names a supervisor in the chain model: %s", a.raw)
	}
}

// TestRunWritesThePIDFileOnceItServes: scripts (and bench/) take the PID
// file's appearance to mean "serving", as it did before flipd run had a
// supervisor: the supervisor writes its pid there once generation 1 is
// ready, not when it starts it.
func TestRunWritesThePIDFileOnceItServes(t *testing.T) {
	admin, web := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	config, pidFile := filepath.Join(dir, "flipd.json"), filepath.Join(dir, "flipd.pid")
	if err := os.WriteFile(config, []byte(runConfig(admin, web, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startSupervised(t, web, flipdBin, "run", "--config", config, "--pidfile", pidFile)
	t.Cleanup(func() {
		for _, pid := range liveProcessesWith(config) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(pidFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("flipd run wrote no PID file within 20s")
		}
		time.Sleep(time.Millisecond)
	}
	if g, err := s.ask(); err != nil || g != 1 {
		t.Fatalf("the PID file is there, but %s does not serve: %v", web, err)
	}
	requirePIDFile(t, pidFile, s.cmd.Process.Pid)
	signalPid(t, s.cmd.Process.Pid, syscall.SIGTERM)
	if code := s.waitExit(30 * time.Second); code != 0 {
		t.Errorf("flipd run exited with status %d after SIGTERM, want 0", code)
	}
}
