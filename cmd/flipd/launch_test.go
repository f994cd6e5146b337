//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/flipd/flipd/internal/poll"
)

// The one way the tests start a chain-model flipd, wait on it, and pick
// its addresses.

// launchOptions says how launch runs flipd; the zero value is startFlipd.
type launchOptions struct {
	bin  string   // the executable; flipdBin if ""
	dir  string   // for the config, pid file, log and state; a new t.TempDir() if ""
	cwd  string   // the daemon's working directory; the test's if ""
	env  []string // added to the environment
	args []string // after flipd run's own: a --pidfile here wins
}

// launch is the one way the tests start a chain-model flipd: it writes
// config and runs "flipd run" on it as o says, until the first generation
// has written its pid file.
func launch(t *testing.T, config string, o launchOptions) *daemon {
	t.Helper()
	if o.bin == "" {
		o.bin = flipdBin
	}
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	d := &daemon{t: t, dir: o.dir, config: filepath.Join(o.dir, "flipd.json"),
		pidFile: filepath.Join(o.dir, "flipd.pid"), logFile: filepath.Join(o.dir, "flipd.log"), pids: map[int]bool{}}
	for i, arg := range o.args { // a --pidfile of the test's own
		if arg == "--pidfile" && i+1 < len(o.args) {
			d.pidFile = o.args[i+1]
		}
	}
	d.writeConfig(config)
	// --no-supervisor: these tests follow the chain model, where the pid
	// file names the serving generation (run_supervised_test.go tests
	// flipd run's default, one pid for life).
	argv := append([]string{o.bin, "run", "--no-supervisor", "--config", d.config, "--pidfile", d.pidFile}, o.args...) // the last --pidfile wins
	d.cmd = startLogged(t, d.logFile, o.cwd, flipdEnv(o.dir, o.env...), argv...)
	d.pids[d.cmd.Process.Pid] = true
	t.Cleanup(d.kill)
	d.waitFor("the first generation to write its pid file", func() bool { return d.pid() == d.cmd.Process.Pid })
	return d
}

// startLogged starts argv in cwd (the test's if "") with env, its output
// going to a new logFile.
func startLogged(t *testing.T, logFile, cwd string, env []string, argv ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = cwd
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// flipdEnv is the environment of a flipd the test runs, with its state
// under dir and then extra.
func flipdEnv(dir string, extra ...string) []string {
	return append(append(os.Environ(), "GORACE=atexit_sleep_ms=0", "XDG_DATA_HOME="+filepath.Join(dir, "data")), extra...)
}

// eventually waits up to limit for cond, and fails t saying what it
// waited for.
func eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, limit, what, cond)
}

// waitFor waits up to 30s for cond, and fails the test with the log.
func (d *daemon) waitFor(what string, cond func() bool) {
	d.t.Helper()
	poll.Until(withLog{d.t, d}, 30*time.Second, what, cond)
}

// withLog adds a daemon's log to a test's fatal failures.
type withLog struct {
	testing.TB
	d *daemon
}

func (w withLog) Fatalf(format string, args ...any) {
	w.TB.Helper()
	w.TB.Fatalf(format+"; log:\n%s", append(args, w.d.log())...)
}

// waitStopped waits up to limit for flipd run to exit, and fails the test
// unless it exited with status 0.
func (d *daemon) waitStopped(limit time.Duration) {
	d.t.Helper()
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			d.t.Fatalf("flipd exited with %v; log:\n%s", err, d.log())
		}
	case <-time.After(limit):
		d.t.Fatalf("flipd did not stop; log:\n%s", d.log())
	}
}

// handedOut holds every address freeAddr and freePort returned: the
// kernel may give a port just closed out again, and two listeners of one
// test once got the same one.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// freeAddr returns a loopback address nobody listens on (yet), and that
// it never returned before in this process.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := pickAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// freePort is freeAddr without a test to fail.
func freePort() string {
	addr, err := pickAddr()
	if err != nil {
		panic(err)
	}
	return addr
}

// pickAddr listens on port 0 until the kernel gives a port not handed out
// before, holding the others open meanwhile so that it cannot give them
// again.
func pickAddr() (string, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	var open []net.Listener
	defer func() {
		for _, ln := range open {
			ln.Close()
		}
	}()
	for range 1000 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		open = append(open, ln)
		if addr := ln.Addr().String(); !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr, nil
		}
	}
	return "", fmt.Errorf("no loopback port free that was not handed out already, after %d tries", len(open))
}

// Two listeners of one test once got the same port: freeAddr hands an
// address out once only, however soon the kernel offers it again.
func TestFreeAddrNeverHandsOutAnAddressTwice(t *testing.T) {
	seen := map[string]bool{}
	for range 500 {
		addr := freeAddr(t)
		if seen[addr] {
			t.Fatalf("freeAddr returned %s twice", addr)
		}
		seen[addr] = true
	}
}
