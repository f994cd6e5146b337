//go:build linux

package upgrade

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd/internal/poll"
)

func TestHandoverKeepsOpenConnectionAndListener(t *testing.T) {
	p := startHelper(t, "")
	old := p.conn()
	if got := old.ask("echo before"); got != "before 1" {
		t.Fatalf("generation 1 answered %q", got)
	}

	next := p.mustUpgrade(2)
	if next.addr != p.addr {
		t.Fatalf("generation 2 listens on %s, generation 1 on %s: the socket was not inherited", next.addr, p.addr)
	}
	// Generation 1 stops accepting once it hears "ready"; a connection it
	// accepted just before that is still answered, by generation 1.
	if info := p.infoFrom(2); !info.HasParent {
		t.Fatal("generation 2 says it has no parent")
	}
	// The connection opened before the handover is still served by the
	// old generation, which drains it.
	if got := old.ask("echo during"); got != "during 1" {
		t.Fatalf("open connection answered %q after the handover", got)
	}
	old.Close()
	p.waitExit(p.cmd.Process.Pid)

	c := p.conn()
	defer c.Close()
	if got := c.ask("wait-parent"); got != "<nil>" {
		t.Fatalf("WaitForParent: %s", got)
	}
}

func TestPayloadReachesChild(t *testing.T) {
	p := startHelper(t, "")
	if res := p.upgrade(`{"config":"v2"}`); !res.OK {
		t.Fatal(res.Error)
	}
	p.waitReady(2)
	if got := p.infoFrom(2).Payload; got != `{"config":"v2"}` {
		t.Fatalf("payload = %q", got)
	}
}

// Every way a new generation can fail leaves the old one serving, and the
// caller learns what happened.
func TestFailedUpgradeKeepsServing(t *testing.T) {
	cases := []struct {
		mode   string
		reason FailureReason
		check  func(t *testing.T, res helperResult)
	}{
		{"report", ReasonReported, func(t *testing.T, res helperResult) {
			if res.Message != "helper: generation 2 refuses to serve" {
				t.Errorf("message = %q", res.Message)
			}
		}},
		{"exit", ReasonExited, func(t *testing.T, res helperResult) {
			if res.ExitCode != 3 || !strings.Contains(res.Error, "exited with status 3") {
				t.Errorf("exit code %d, error %q", res.ExitCode, res.Error)
			}
		}},
		{"kill", ReasonExited, func(t *testing.T, res helperResult) {
			if res.Signal != "killed" || !strings.Contains(res.Error, "killed by signal killed") {
				t.Errorf("signal %q, error %q", res.Signal, res.Error)
			}
		}},
		{"hang", ReasonTimeout, func(t *testing.T, res helperResult) {
			if !strings.Contains(res.Error, "not ready within 1s") {
				t.Errorf("error %q", res.Error)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			p := startHelper(t, "", "HELPER_TIMEOUT=1s")
			p.setMode(tc.mode)
			res := p.upgrade("")
			if res.OK || res.Reason != string(tc.reason) {
				t.Fatalf("upgrade result %+v, want failure %q", res, tc.reason)
			}
			tc.check(t, res)
			// The child is gone and reaped by generation 1: no zombie. A
			// child that reported an error is answered at once and may
			// take a moment to exit by itself.
			if res.Pid != 0 && tc.reason == ReasonReported {
				waitFor(t, func() bool { return processGone(res.Pid) })
			}
			if res.Pid != 0 && !processGone(res.Pid) {
				t.Errorf("child %d still exists after the failed upgrade", res.Pid)
			}
			if info := p.info(); info.Generation != 1 {
				t.Fatalf("generation %d serves after the failed upgrade, want 1", info.Generation)
			}
			// And the next upgrade works.
			p.setMode("")
			p.mustUpgrade(2)
		})
	}
}

func TestExecutableDeletedOrNotExecutable(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "app")
	copyTestBinary(t, exe)
	p := startHelper(t, exe)
	first := p.info().ExeIno

	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	res := p.upgrade("")
	if res.OK || res.Reason != string(ReasonStart) || !strings.Contains(res.Error, exe) || !strings.Contains(res.Error, "no such file") {
		t.Fatalf("upgrade with the binary deleted: %+v", res)
	}

	copyTestBinary(t, exe)
	if err := os.Chmod(exe, 0o644); err != nil {
		t.Fatal(err)
	}
	res = p.upgrade("")
	if res.OK || res.Reason != string(ReasonStart) || !strings.Contains(res.Error, "not executable") {
		t.Fatalf("upgrade with the binary not executable: %+v", res)
	}
	if p.info().Generation != 1 {
		t.Fatal("generation 1 stopped serving")
	}

	// A binary replaced at the same path is what the next generation runs.
	if err := os.Chmod(exe, 0o755); err != nil {
		t.Fatal(err)
	}
	p.mustUpgrade(2)
	if info := p.infoFrom(2); info.ExeIno == first || info.ExeIno == 0 {
		t.Fatalf("generation 2 runs inode %d, generation 1 ran %d: not the replaced binary", info.ExeIno, first)
	}
}

func TestRelativeExecutableAndChangedDirectory(t *testing.T) {
	dir := t.TempDir()
	copyTestBinary(t, filepath.Join(dir, "app"))
	p := &proc{}
	// Started as ./app from its directory; the helper is then run with a
	// different working directory by nothing but its own resolution.
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	p = startHelper(t, "./app")
	os.Chdir(wd)
	p.mustUpgrade(2)
	p.mustUpgrade(3)
}

func TestConcurrentUpgradeFailsAtOnce(t *testing.T) {
	p := startHelper(t, "", "HELPER_TIMEOUT=3s")
	p.setMode("hang")
	first := make(chan helperResult, 1)
	go func() {
		c := dialHelper(t, "tcp", p.addr)
		defer c.Close()
		c.Write([]byte("upgrade\n"))
		var res helperResult
		line, _ := c.r.ReadString('\n')
		json.Unmarshal([]byte(line), &res)
		first <- res
	}()
	// Wait until the first upgrade's child exists.
	p.waitLine("HANGING 2 ")
	res := p.upgrade("")
	if res.OK || !strings.Contains(res.Error, "in progress") {
		t.Fatalf("second upgrade: %+v, want 'in progress'", res)
	}
	select {
	case r := <-first:
		t.Fatalf("first upgrade finished before the second was refused: %+v", r)
	default:
	}
	if r := <-first; r.Reason != string(ReasonTimeout) {
		t.Fatalf("first upgrade: %+v", r)
	}
}

func TestUpgradeRightAfterReady(t *testing.T) {
	p := startHelper(t, "", "HELPER_UPGRADE_ON_READY=1")
	p.waitReady(2)
	p.infoFrom(2)
}

func TestChildReadyThenExitCountsAsHandover(t *testing.T) {
	p := startHelper(t, "")
	p.setMode("ready-exit")
	if res := p.upgrade(""); !res.OK {
		t.Fatalf("a child that was ready and then exited: %+v", res)
	}
}

func TestBackToBackUpgradesBoundedByMaxDraining(t *testing.T) {
	p := startHelper(t, "")
	gen1 := p.conn() // keeps generation 1 draining
	gen1.ask("echo hold")
	g2 := p.mustUpgrade(2)
	gen2 := p.connTo(2)    // keeps generation 2 draining once 3 serves
	g3 := p.mustUpgrade(3) // allowed while generation 1 still drains

	res := p.upgradeFrom(3)
	if res.Reason != "draining" || len(res.Draining) != 2 || res.Draining[0] != p.cmd.Process.Pid || res.Draining[1] != g2.pid {
		t.Fatalf("upgrade with 2 generations draining: %+v", res)
	}
	for _, pid := range []int{p.cmd.Process.Pid, g2.pid} {
		if !strings.Contains(res.Error, fmt.Sprint(pid)) {
			t.Fatalf("error %q does not name pid %d", res.Error, pid)
		}
	}
	gen1.Close()
	p.waitExit(p.cmd.Process.Pid)
	waitFor(t, func() bool { return len(p.info().Draining) == 1 })
	p.mustUpgrade(4)
	gen2.Close()
	_ = g3
}

func TestUnixSocketSurvivesUpgradeAndIsRemovedOnStop(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	p := startHelper(t, "", "HELPER_UNIX="+sock)
	p.mustUpgrade(2)
	p.waitExit(p.cmd.Process.Pid)
	c := dialHelper(t, "unix", sock)
	if got := c.ask("echo x"); got != "x 2" {
		t.Fatalf("unix socket answered %q", got)
	}
	c.ask("stop")
	c.Close()
	waitFor(t, func() bool { _, err := os.Stat(sock); return os.IsNotExist(err) })
}

// A new generation that claims the unix socket and then fails must not
// remove the socket file its parent still serves.
func TestFailedChildLeavesUnixSocketFile(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	p := startHelper(t, "", "HELPER_UNIX="+sock)
	p.setMode("listen-then-fail")
	if res := p.upgrade(""); res.OK || res.Reason != string(ReasonReported) {
		t.Fatalf("upgrade: %+v", res)
	}
	c := dialHelper(t, "unix", sock)
	defer c.Close()
	if got := c.ask("echo still"); got != "still 1" {
		t.Fatalf("after the failed child, the unix socket answered %q", got)
	}
}

func TestUDPFileAndConnHandover(t *testing.T) {
	upstream, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer upstream.Close()
	state := filepath.Join(t.TempDir(), "state")
	os.WriteFile(state, []byte("kept"), 0o644)
	udp := freeUDPAddr(t)
	p := startHelper(t, "", "HELPER_UDP="+udp, "HELPER_FILE="+state, "HELPER_CONN="+upstream.Addr().String())

	c, err := upstream.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p.mustUpgrade(2)
	// One upstream connection, written to by both generations.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 0, 128)
	for !strings.Contains(string(buf), "generation 2") {
		chunk := make([]byte, 64)
		n, err := c.Read(chunk)
		if err != nil {
			t.Fatalf("upstream got %q, then %v", buf, err)
		}
		buf = append(buf, chunk[:n]...)
	}
	if string(buf) != "hello from generation 1\nhello from generation 2\n" {
		t.Fatalf("upstream got %q", buf)
	}
	hc := p.conn()
	defer hc.Close()
	if got := hc.ask("file"); got != `"kept"` {
		t.Fatalf("inherited file reads %s", got)
	}
	p.waitExit(p.cmd.Process.Pid)
	uc, err := net.Dial("udp", udp)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(5 * time.Second))
	uc.Write([]byte("ping"))
	b := make([]byte, 64)
	n, err := uc.Read(b)
	if err != nil || string(b[:n]) != "ping 2" {
		t.Fatalf("udp answered %q, %v", b[:n], err)
	}
}

func TestUnclaimedInheritedListenerIsClosed(t *testing.T) {
	extra := freeTCPAddr(t)
	p := startHelper(t, "", "HELPER_EXTRA_ADDR="+extra)
	p.setMode("skip-extra")
	p.mustUpgrade(2)
	p.waitExit(p.cmd.Process.Pid)
	if c, err := net.DialTimeout("tcp", extra, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts after no generation claims it", extra)
	}
}

func TestPIDFile(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "app.pid")
	p := startHelper(t, "", "HELPER_PIDFILE="+pidfile, "HELPER_TIMEOUT=1s")
	readPid := func() string { b, _ := os.ReadFile(pidfile); return strings.TrimSpace(string(b)) }
	if got := readPid(); got != fmt.Sprint(p.cmd.Process.Pid) {
		t.Fatalf("pid file says %q after start", got)
	}
	g2 := p.mustUpgrade(2)
	if got := readPid(); got != fmt.Sprint(g2.pid) {
		t.Fatalf("pid file says %q, want generation 2's pid %d", got, g2.pid)
	}
	p.setMode("hang")
	p.upgrade("")
	if got := readPid(); got != fmt.Sprint(g2.pid) {
		t.Fatalf("pid file says %q after a failed upgrade, want %d", got, g2.pid)
	}
}

// Passing descriptors fails when the new process cannot hold them: here
// RLIMIT_NOFILE is lowered below the descriptor numbers the child needs.
func TestFdPassingFailureKeepsServing(t *testing.T) {
	p := startHelper(t, "", "HELPER_EXTRA_ADDR="+freeTCPAddr(t))
	c := p.conn()
	defer c.Close()
	if got := c.ask("nofile 6"); got != "<nil>" {
		t.Fatalf("setrlimit: %s", got)
	}
	var res helperResult
	c.askJSON("upgrade", &res)
	if res.OK || res.Reason != string(ReasonStart) {
		t.Fatalf("upgrade with too few descriptors allowed: %+v", res)
	}
	if !strings.Contains(res.Error, "too many open files") && !strings.Contains(res.Error, "bad file descriptor") {
		t.Fatalf("error does not say why: %s", res.Error)
	}
	c.ask("nofile 1024")
	if p.info().Generation != 1 {
		t.Fatal("generation 1 stopped serving")
	}
	p.mustUpgrade(2)
}

// Many upgrades in a row leak no descriptor, goroutine or process.
func TestNoLeaksOver200Upgrades(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 20
	}
	p := startHelper(t, "")
	c0 := p.conn()
	var before helperInfo
	c0.askJSON("info", &before)
	c0.Close()
	pids := []int{p.cmd.Process.Pid}
	for gen := 2; gen <= n+1; gen++ {
		pids = append(pids, p.mustUpgrade(gen).pid)
		// The old generation drains its last connection and exits.
		p.waitExit(pids[len(pids)-2])
	}
	for _, pid := range pids[:len(pids)-1] {
		p.waitExit(pid)
	}
	// One connection for every question, so that no connection of ours
	// is still being torn down when the survivor counts its descriptors.
	c := p.conn()
	defer c.Close()
	if got := c.ask("wait-parent"); got != "<nil>" {
		t.Fatal(got)
	}
	var after helperInfo
	waitFor(t, func() bool { c.askJSON("info", &after); return len(after.Draining) == 0 })
	if after.Generation != n+1 {
		t.Fatalf("generation %d serves, want %d", after.Generation, n+1)
	}
	if after.Fds != before.Fds {
		t.Errorf("generation %d has %d open descriptors, generation 1 had %d", after.Generation, after.Fds, before.Fds)
	}
	if after.Goroutines != before.Goroutines {
		t.Errorf("generation %d has %d goroutines, generation 1 had %d", after.Generation, after.Goroutines, before.Goroutines)
	}
	for _, pid := range pids[:len(pids)-1] {
		if !processGone(pid) {
			t.Errorf("generation pid %d still exists", pid)
		}
	}
}

// waitFor polls cond until it holds, for at most 20s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	poll.Until(t, 20*time.Second, "the condition", cond)
}

// copyTestBinary copies the test binary, which doubles as the helper
// server, to path, for tests that delete or replace the executable.
func copyTestBinary(t *testing.T, path string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, self, path)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func freeTCPAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func freeUDPAddr(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// A child that does not speak the parent's handshake version says so on
// the status pipe instead of guessing at the descriptors.
func TestChildRefusesUnknownHandshakeVersion(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hsR, hsW, _ := os.Pipe()
	stR, stW, _ := os.Pipe()
	defer stR.Close()
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"=1", "HELPER_ADDR=127.0.0.1:0", envHandshake+"=99", "GORACE=atexit_sleep_ms=0")
	cmd.ExtraFiles = []*os.File{hsR, stW} // fds 3 and 4
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	hsR.Close()
	stW.Close()
	hsW.Write([]byte(`{"version": 99}`))
	hsW.Close()
	msg, err := readStatus(stR)
	if err != nil {
		t.Fatalf("no status from the child: %v", err)
	}
	if msg.Status != statusError || !strings.Contains(msg.Error, `parent speaks version "99"`) {
		t.Fatalf("status %+v", msg)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("child exited 0 after refusing the handshake")
	}
}
