//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flipd/flipd/cmd/flipdcmd"
)

// flipdBin is the flipd binary the tests run, built once by TestMain.
var flipdBin string

func TestMain(m *testing.M) {
	if os.Getenv(asFlipdEnv) != "" {
		// This test binary is flipd, with the test modules registered
		// (see testmodules_test.go), for a test that needs them.
		flipdcmd.Main()
	}
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "flipd-e2e")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		flipdBin = filepath.Join(dir, "flipd")
		if _, err := exec.LookPath("go"); err != nil {
			fmt.Println("skipping: the end-to-end tests build flipd and need the go command in PATH")
			return 0
		}
		build := exec.Command("go", "build", "-o", flipdBin, ".")
		if raceEnabled { // test the daemon as strictly as the tests
			build.Args = []string{"go", "build", "-race", "-o", flipdBin, "."}
		}
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building flipd:", err)
			return 1
		}
		becomeSubreaper()
		return m.Run()
	}())
}

// daemon is a flipd started by a test, and every generation it forks.
type daemon struct {
	t       *testing.T
	cmd     *exec.Cmd
	dir     string
	config  string
	pidFile string
	logFile string
	pids    map[int]bool
}

// startFlipd writes config and runs "flipd run" on it until the first
// generation has written its pid file.
func startFlipd(t *testing.T, config string, extraArgs ...string) *daemon {
	t.Helper()
	return launch(t, config, launchOptions{args: extraArgs})
}

func (d *daemon) writeConfig(config string) {
	d.t.Helper()
	if err := os.WriteFile(d.config, []byte(config), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

// pid is what the pid file says, or 0.
func (d *daemon) pid() int {
	b, _ := os.ReadFile(d.pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid > 0 {
		d.pids[pid] = true
	}
	return pid
}

func (d *daemon) log() string {
	b, _ := os.ReadFile(d.logFile)
	return string(b)
}

// reload writes config, sends SIGHUP and waits for a new generation to
// serve; it returns the new pid.
func (d *daemon) reload(config string) int {
	d.t.Helper()
	old := d.pid()
	d.writeConfig(config)
	signalPid(d.t, old, syscall.SIGHUP)
	d.waitFor("a new generation after SIGHUP", func() bool { p := d.pid(); return p != 0 && p != old })
	return d.pid()
}

// reloadFails writes config, sends SIGHUP and waits until the serving
// generation logs that the reload failed; the pid file must not change.
// It returns the log text after the SIGHUP.
func (d *daemon) reloadFails(config string) string {
	d.t.Helper()
	old := d.pid()
	before := len(d.log())
	d.writeConfig(config)
	signalPid(d.t, old, syscall.SIGHUP)
	d.waitFor("the reload to fail", func() bool { return strings.Contains(d.log()[before:], "reload failed") })
	if p := d.pid(); p != old {
		d.t.Fatalf("pid file changed from %d to %d after a failed reload", old, p)
	}
	return d.log()[before:]
}

// waitExit waits until pid has exited (and reaps it if it is ours).
func (d *daemon) waitExit(pid int) {
	d.t.Helper()
	d.waitFor(fmt.Sprintf("pid %d to exit", pid), func() bool { return reaped(pid, d.cmd) })
}

func (d *daemon) kill() {
	// Generations started through the admin API may never have been seen
	// in the pid file: find every process running this test's config.
	d.pid()
	for _, pid := range processesWith(d.config) {
		d.pids[pid] = true
	}
	for pid := range d.pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pid := range d.pids {
		for !reaped(pid, d.cmd) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// reaped reports whether pid is gone, reaping it if it is our child.
func reaped(pid int, first *exec.Cmd) bool {
	if pid == first.Process.Pid {
		if first.ProcessState != nil {
			return true
		}
		var ws syscall.WaitStatus
		if got, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got != pid {
			return false
		}
		// Reaped behind exec.Cmd's back: record it there too.
		first.Process.Release()
		first.ProcessState = &os.ProcessState{}
		return true
	}
	var ws syscall.WaitStatus
	if got, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got == pid {
		return true
	}
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

// get fetches url with a fresh connection and returns the body.
func get(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(bytes.TrimSpace(b))
}

// staticConfig serves body on addr.
func staticConfig(addr, body string) string {
	return fmt.Sprintf(`{"admin": {"disabled": true}, "upgrade": {"drain_timeout": "10s"}, "listeners": {
		"web": {"address": "tcp/%s", "module": "http", "routes": [{"handle": {"module": "static_response", "body": %q}}]}}}`, addr, body)
}

// processesWith lists the pids whose command line contains arg.
func processesWith(arg string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if bytes.Contains(cmdline, []byte(arg)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// signalPid sends sig to pid, a process the test started. A pid of 0 or
// less would signal the test's whole process group (a pid file read while
// it was being replaced, say): that fails the test instead.
func signalPid(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("refusing to send %v to pid %d: that would signal a process group", sig, pid)
	}
	syscall.Kill(pid, sig)
}
