//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// superviseReloads is how many SIGHUPs the supervisor turns into upgrades
// under load in each test: 20, or $FLIPD_SUPERVISE_RELOADS (CI's longer
// stage runs 100).
var superviseReloads = func() int {
	if n, err := strconv.Atoi(os.Getenv("FLIPD_SUPERVISE_RELOADS")); err == nil && n > 0 {
		return n
	}
	return 20
}()

func TestSuperviseKeepsOnePidAcrossReloadsUnderLoad(t *testing.T) {
	lh := buildLibraryHTTP(t)
	addr := freeAddr(t)
	s := startSupervised(t, addr, flipdBin, "supervise", "--pidfile", "PIDFILE", "--",
		lh, "-listen", addr, "-drain-timeout", "20s")
	s.waitGeneration(1, 20*time.Second)
	pid := s.cmd.Process.Pid
	requirePIDFile(t, s.pidFile, pid)

	load := startPostLoad(addr)
	gen := 1
	for range superviseReloads {
		gen = s.reload(pid)
	}
	time.Sleep(300 * time.Millisecond) // the last drains happen under load too
	load.stop(t)
	if gen < superviseReloads+1 {
		t.Errorf("generation %d serves after %d reloads, want at least %d", gen, superviseReloads, superviseReloads+1)
	}
	select {
	case <-s.exited:
		t.Fatalf("the supervisor (pid %d) exited during the reloads: %v", pid, s.err)
	default:
	}
	requirePIDFile(t, s.pidFile, pid)

	syscall.Kill(pid, syscall.SIGTERM)
	if code := s.waitExit(30 * time.Second); code != 0 {
		t.Errorf("the supervisor exited with status %d after SIGTERM, want 0", code)
	}
	requireNoneLeft(t, lh, addr)
	if _, err := os.Stat(s.pidFile); !os.IsNotExist(err) {
		t.Errorf("the PID file is still there after the supervisor exited: %v", err)
	}
}

func TestSuperviseStopsOnSIGINTWithStatus0(t *testing.T) {
	lh := buildLibraryHTTP(t)
	addr := freeAddr(t)
	s := startSupervised(t, addr, flipdBin, "supervise", "--", lh, "-listen", addr, "-drain-timeout", "20s")
	s.waitGeneration(1, 20*time.Second)
	s.reload(s.cmd.Process.Pid)
	syscall.Kill(s.cmd.Process.Pid, syscall.SIGINT)
	if code := s.waitExit(30 * time.Second); code != 0 {
		t.Errorf("the supervisor exited with status %d after SIGINT, want 0", code)
	}
	requireNoneLeft(t, lh, addr)
	if n := strings.Count(s.log(), "stopping:"); n != 1 {
		t.Errorf("%d generations logged a stop, want exactly 1 (one SIGINT, forwarded once)", n)
	}
}

func TestSuperviseReapsAnOrphanedGrandchild(t *testing.T) {
	lh := buildLibraryHTTP(t)
	addr := freeAddr(t)
	orphanPidFile := filepath.Join(t.TempDir(), "orphan.pid")
	// The subshell starts sleep and exits at once: sleep is orphaned and
	// becomes the supervisor's child, which must reap it when it exits.
	script := `(sleep 1 & echo $! > "$1"); exec "$2" -listen "$3"`
	s := startSupervised(t, addr, flipdBin, "supervise", "--", "sh", "-c", script, "sh", orphanPidFile, lh, addr)
	s.waitGeneration(1, 20*time.Second)
	sup := s.cmd.Process.Pid

	b, err := os.ReadFile(orphanPidFile)
	orphan, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || orphan == 0 {
		t.Fatalf("the script did not name its orphan: %v %q", err, b)
	}
	if ppid := parentOf(orphan); ppid != sup {
		t.Fatalf("the orphan (pid %d) has parent %d, want the supervisor (pid %d)", orphan, ppid, sup)
	}
	deadline := time.Now().Add(10 * time.Second)
	for parentOf(orphan) != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if ppid := parentOf(orphan); ppid != 0 {
		t.Fatalf("the orphan (pid %d) is still there under pid %d: not reaped", orphan, ppid)
	}
	if z := zombieChildren(sup); len(z) > 0 {
		t.Errorf("the supervisor leaves zombies: %v", z)
	}
	if g := s.generation(); g != 1 {
		t.Errorf("generation %d serves after the orphan was reaped, want 1", g)
	}
	syscall.Kill(sup, syscall.SIGTERM)
	if code := s.waitExit(30 * time.Second); code != 0 {
		t.Errorf("the supervisor exited with status %d after SIGTERM, want 0", code)
	}
}

func TestSupervisePassesOnTheExitStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		want   int
	}{
		{"an exit status", "exit 7", 7},
		{"a signal, as 128+signo", "kill -KILL $$", 128 + int(syscall.SIGKILL)},
		{"success", "true", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSupervised(t, "", flipdBin, "supervise", "--", "sh", "-c", tc.script)
			if code := s.waitExit(20 * time.Second); code != tc.want {
				t.Errorf("sh -c %q under the supervisor: status %d, want %d", tc.script, code, tc.want)
			}
		})
	}
}

func TestSuperviseRefusesAMissingCommand(t *testing.T) {
	s := startSupervised(t, "", flipdBin, "supervise")
	if code := s.waitExit(20 * time.Second); code != 2 {
		t.Errorf("flipd supervise without a command: status %d, want 2 (usage)", code)
	}
	s = startSupervised(t, "", flipdBin, "supervise", "--", filepath.Join(t.TempDir(), "missing"))
	if code := s.waitExit(20 * time.Second); code != 1 {
		t.Errorf("flipd supervise of a missing program: status %d, want 1", code)
	}
}

func requirePIDFile(t *testing.T, path string, want int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if got, _ := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || got != want {
		t.Fatalf("the PID file says %q (%v), want the supervisor's pid %d", b, err, want)
	}
}

// requireNoneLeft fails t if a process of exe lives on or addr answers.
func requireNoneLeft(t *testing.T, exe, addr string) {
	t.Helper()
	if left := liveProcessesOf(exe); len(left) > 0 {
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Errorf("processes of %s left after the supervisor exited: %v", exe, left)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the supervisor exited", addr)
	}
}

// parentOf is pid's parent pid, 0 if pid is gone (a zombie counts as there).
func parentOf(pid int) int {
	if f := procStat(pid); len(f) >= 2 {
		ppid, _ := strconv.Atoi(f[1])
		return ppid
	}
	return 0
}

// TestSuperviseRunsFlipdRun runs the daemon itself under the supervisor,
// as examples/container does: SIGHUP to the supervisor re-reads the config
// file in the serving generation, SIGTERM stops everything with status 0.
func TestSuperviseRunsFlipdRun(t *testing.T) {
	addr := freeAddr(t)
	config := filepath.Join(t.TempDir(), "flipd.json")
	write := func(body string) {
		if err := os.WriteFile(config, []byte(staticConfig(addr, body)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("gen0")
	s := startSupervised(t, addr, flipdBin, "supervise", "--pidfile", "PIDFILE", "--", flipdBin, "run", "--config", config)
	sup := s.cmd.Process.Pid
	waitAnswer(t, "http://"+addr+"/", "gen0")
	for i := 1; i <= 5; i++ {
		body := fmt.Sprintf("gen%d", i)
		write(body)
		// A reload is refused while two older generations still drain
		// (they exit a moment after they drained): SIGHUP again then.
		for try := 0; ; try++ {
			syscall.Kill(sup, syscall.SIGHUP)
			if answersWithin(addr, body, 2*time.Second) {
				break
			}
			if try == 9 {
				waitAnswer(t, "http://"+addr+"/", body) // fails, saying what answers
			}
		}
		// The new generation answers a moment before it tells the
		// supervisor it serves; the next SIGHUP must go to it.
		s.waitLog("generation serves", i)
	}
	requirePIDFile(t, s.pidFile, sup)
	syscall.Kill(sup, syscall.SIGTERM)
	if code := s.waitExit(30 * time.Second); code != 0 {
		t.Errorf("the supervisor exited with status %d after SIGTERM, want 0", code)
	}
	if left := processesWith(config); len(left) > 0 {
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Errorf("flipd processes left after the supervisor exited: %v", left)
	}
}

// TestSuperviseStopDuringAReloadEndsEverything sends SIGTERM at moments
// spread over a reload (the child starting, handing over, the old one
// draining): each run must end with every generation gone and status 0.
func TestSuperviseStopDuringAReloadEndsEverything(t *testing.T) {
	lh := buildLibraryHTTP(t)
	for _, delay := range []time.Duration{0, time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			addr := freeAddr(t)
			s := startSupervised(t, addr, flipdBin, "supervise", "--", lh, "-listen", addr, "-drain-timeout", "20s")
			s.waitGeneration(1, 20*time.Second)
			sup := s.cmd.Process.Pid
			syscall.Kill(sup, syscall.SIGHUP)
			time.Sleep(delay)
			syscall.Kill(sup, syscall.SIGTERM)
			if code := s.waitExit(30 * time.Second); code != 0 {
				t.Errorf("status %d after SIGHUP, %v, SIGTERM; want 0", code, delay)
			}
			requireNoneLeft(t, lh, addr)
		})
	}
}

// answersWithin reports whether http://addr/ answers want within d.
func answersWithin(addr, want string, d time.Duration) bool {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if resp, err := c.Get("http://" + addr + "/"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(b)) == want {
				return true
			}
		}
	}
	return false
}
