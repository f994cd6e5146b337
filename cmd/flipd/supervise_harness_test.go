//go:build linux

package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	libraryHTTPOnce sync.Once
	libraryHTTPBin  string
	libraryHTTPErr  error
)

// buildLibraryHTTP builds examples/library-http once, next to flipdBin.
func buildLibraryHTTP(t *testing.T) string {
	t.Helper()
	libraryHTTPOnce.Do(func() {
		libraryHTTPBin = filepath.Join(filepath.Dir(flipdBin), "library-http")
		out, err := exec.Command("go", "build", "-o", libraryHTTPBin, "../../examples/library-http").CombinedOutput()
		if err != nil {
			libraryHTTPErr = fmt.Errorf("building examples/library-http: %v\n%s", err, out)
		}
	})
	if libraryHTTPErr != nil {
		t.Fatal(libraryHTTPErr)
	}
	return libraryHTTPBin
}

// supervised is a `flipd supervise` (or a command wrapping one, such as
// unshare) started by a test.
type supervised struct {
	t       *testing.T
	cmd     *exec.Cmd
	addr    string
	pidFile string
	logFile string
	exited  chan struct{}
	err     error // of cmd.Wait, once exited is closed
	newest  int   // the newest generation a reload saw
}

// startSupervised runs argv (which starts flipd supervise) with its
// output in a log file, and fails the test with that log if it fails.
func startSupervised(t *testing.T, addr string, argv ...string) *supervised {
	t.Helper()
	dir := t.TempDir()
	s := &supervised{t: t, addr: addr, pidFile: filepath.Join(dir, "flipd.pid"),
		logFile: filepath.Join(dir, "supervise.log"), exited: make(chan struct{})}
	for i, a := range argv {
		argv[i] = strings.ReplaceAll(a, "PIDFILE", s.pidFile)
	}
	s.cmd = startLogged(t, s.logFile, "", append(os.Environ(), "GORACE=atexit_sleep_ms=0"), argv...)
	go func() { s.err = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		// A SIGTERM first: the supervisor stops every generation with
		// it, where a SIGKILL would leave them serving (a test that
		// failed half-way must not leave processes behind).
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(10 * time.Second):
				s.cmd.Process.Kill()
				<-s.exited
			}
		}
		if t.Failed() {
			t.Logf("supervise log:\n%s", s.log())
		}
	})
	return s
}

func (s *supervised) log() string {
	b, _ := os.ReadFile(s.logFile)
	return string(b)
}

// waitLog waits until the log holds text n times.
func (s *supervised) waitLog(text string, n int) {
	s.t.Helper()
	eventually(s.t, 10*time.Second, fmt.Sprintf("the log to hold %q %d times", text, n),
		func() bool { return strings.Count(s.log(), text) >= n })
}

// generation asks the service which generation serves; 0 if none answers.
func (s *supervised) generation() int {
	g, _ := s.ask()
	return g
}

// ask asks the service which generation serves.
func (s *supervised) ask() (int, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + s.addr + "/")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if g := answerField(string(b), "generation"); g > 0 {
		return g, nil
	}
	return 0, fmt.Errorf("answer %q, %v", b, err)
}

// answerField reads key=N from library-http's answer "generation=N pid=P".
func answerField(answer, key string) int {
	for _, f := range strings.Fields(answer) {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// waitGeneration waits until generation at least min serves.
func (s *supervised) waitGeneration(min int, timeout time.Duration) int {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if g := s.generation(); g >= min {
			return g
		}
		select {
		case <-s.exited:
			s.t.Fatalf("the supervisor exited (%v) while waiting for generation %d", s.err, min)
		case <-time.After(10 * time.Millisecond):
		}
	}
	s.t.Fatalf("generation %d did not serve within %v", min, timeout)
	return 0
}

// reload sends SIGHUP to pid until a newer generation serves (a SIGHUP may
// be refused while too many older generations drain) and returns it.
func (s *supervised) reload(pid int) int {
	s.t.Helper()
	// The newest generation seen, not the one that answers now: an old
	// generation may still accept a connection for a moment after the
	// handover, and a reload must not count its answer as progress.
	before, err := s.ask()
	if err != nil {
		s.t.Fatalf("before a reload, asking which generation serves: %v", err)
	}
	before = max(before, s.newest)
	for range 10 {
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			s.t.Fatalf("SIGHUP to the supervisor (pid %d): %v", pid, err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if g := s.generation(); g > before {
				s.newest = g
				return g
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	s.t.Fatalf("no generation after %d served within 10 SIGHUPs", before)
	return 0
}

// waitExit waits for the started command and returns its exit status.
func (s *supervised) waitExit(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.exited:
	case <-time.After(timeout):
		s.t.Fatalf("the supervisor did not exit within %v", timeout)
	}
	return s.cmd.ProcessState.ExitCode()
}

// liveProcessesOf lists the live (not zombie) processes running exe.
func liveProcessesOf(exe string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if path, err := os.Readlink("/proc/" + e.Name() + "/exe"); err == nil && path == exe {
			pids = append(pids, pid)
		}
	}
	return pids
}

// childRunning waits for the child of parent that runs exe and returns its
// pid.
func childRunning(t *testing.T, parent int, exe string) int {
	t.Helper()
	var child int
	eventually(t, 10*time.Second, fmt.Sprintf("a child of pid %d that runs %s", parent, exe), func() bool {
		for _, pid := range liveProcessesOf(exe) {
			if parentOf(pid) == parent {
				child = pid
				return true
			}
		}
		return false
	})
	return child
}

// zombieChildren lists the zombies whose parent is pid.
func zombieChildren(pid int) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStat(p); len(f) >= 2 && f[0] == "Z" && f[1] == strconv.Itoa(pid) {
			pids = append(pids, p)
		}
	}
	return pids
}

// procStat is what /proc/pid/stat says after the command name: the state,
// the parent's pid and on; nil once pid is gone.
func procStat(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}
