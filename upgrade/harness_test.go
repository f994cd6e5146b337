//go:build linux

package upgrade

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is a chain of helper generations started by a test.
type proc struct {
	t        testing.TB
	cmd      *exec.Cmd
	addr     string // the TCP address every generation serves
	modeFile string
	lines    chan string
	pids     map[int]bool
}

// startHelper starts generation 1 of the helper from exe (the test binary
// if "") with extra environment, and waits until it is ready.
func startHelper(t testing.TB, exe string, env ...string) *proc {
	t.Helper()
	return startHelperWith(t, exe, nil, env...)
}

// startHelperWith is startHelper with a hook to change the command before
// it starts (to pass descriptors, or run it through a shell).
func startHelperWith(t testing.TB, exe string, mutate func(*exec.Cmd), env ...string) *proc {
	t.Helper()
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			t.Fatal(err)
		}
	}
	p := &proc{t: t, modeFile: filepath.Join(t.TempDir(), "mode"), lines: make(chan string, 1024), pids: map[int]bool{}}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(exe, "-test.run=^$")
	p.cmd.Env = append(os.Environ(), envHelper+"=1", "HELPER_MODE_FILE="+p.modeFile, "HELPER_ADDR=127.0.0.1:0", "HELPER_TIMEOUT=10s",
		// The race detector sleeps a second at exit by default, which
		// would make every drained generation linger.
		"GORACE=atexit_sleep_ms=0")
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = w, os.Stderr
	if mutate != nil {
		mutate(p.cmd)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	p.pids[p.cmd.Process.Pid] = true
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			p.lines <- s.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(p.killAll)
	p.addr = p.waitReady(1).addr
	return p
}

type readyLine struct {
	gen, pid int
	addr     string
}

// waitReady waits for generation gen to print its READY line.
func (p *proc) waitReady(gen int) readyLine {
	p.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("helper output ended before generation %d was ready", gen)
			}
			f := strings.Fields(line)
			if len(f) == 4 && f[0] == "READY" {
				g, _ := strconv.Atoi(f[1])
				pid, _ := strconv.Atoi(f[2])
				p.pids[pid] = true
				if g == gen {
					return readyLine{g, pid, f[3]}
				}
			}
		case <-timeout:
			p.t.Fatalf("generation %d not ready after 30s", gen)
		}
	}
}

func (p *proc) setMode(mode string) {
	p.t.Helper()
	if err := os.WriteFile(p.modeFile, []byte(mode), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// conn opens a conversation with whichever generation accepts.
func (p *proc) conn() *helperConn {
	p.t.Helper()
	return dialHelper(p.t, "tcp", p.addr)
}

type helperConn struct {
	t testing.TB
	net.Conn
	r *bufio.Reader
}

func dialHelper(t testing.TB, network, addr string) *helperConn {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return &helperConn{t, c, bufio.NewReader(c)}
}

// ask sends one command and returns the one-line answer.
func (c *helperConn) ask(cmd string) string {
	c.t.Helper()
	c.SetDeadline(time.Now().Add(40 * time.Second))
	if _, err := c.Write([]byte(cmd + "\n")); err != nil {
		c.t.Fatalf("%s: %v", cmd, err)
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("%s: %v", cmd, err)
	}
	return strings.TrimSpace(line)
}

func (c *helperConn) askJSON(cmd string, v any) {
	c.t.Helper()
	if err := json.Unmarshal([]byte(c.ask(cmd)), v); err != nil {
		c.t.Fatalf("%s: %v", cmd, err)
	}
}

func (p *proc) info() helperInfo {
	p.t.Helper()
	c := p.conn()
	defer c.Close()
	var info helperInfo
	c.askJSON("info", &info)
	return info
}

// infoFrom asks until generation gen answers: the previous generation
// may accept a last connection or two before it hears that gen is ready.
func (p *proc) infoFrom(gen int) helperInfo {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info := p.info()
		if info.Generation == gen {
			return info
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("generation %d still answers, want %d", info.Generation, gen)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// upgrade asks the serving generation to upgrade, on a connection of its
// own that is closed afterwards (so the old generation can finish).
func (p *proc) upgrade(payload string) helperResult {
	p.t.Helper()
	c := p.conn()
	defer c.Close()
	var res helperResult
	c.askJSON(strings.TrimSpace("upgrade "+payload), &res)
	return res
}

// mustUpgrade upgrades to generation gen and waits for it. It asks
// generation gen-1: the one before may still accept a connection or two
// after gen-1 printed READY (until it hears that it is ready), and would
// answer that it has handed over already.
func (p *proc) mustUpgrade(gen int) readyLine {
	p.t.Helper()
	if res := p.upgradeFrom(gen - 1); !res.OK {
		p.t.Fatalf("upgrade to generation %d failed: %s", gen, res.Error)
	}
	return p.waitReady(gen)
}

// upgradeFrom asks generation gen, and not one that handed over already,
// to upgrade.
func (p *proc) upgradeFrom(gen int) helperResult {
	p.t.Helper()
	c := p.connTo(gen)
	defer c.Close()
	var res helperResult
	c.askJSON("upgrade", &res)
	return res
}

// connTo dials until generation gen answers, and returns that
// connection, which it serves until it is closed.
func (p *proc) connTo(gen int) *helperConn {
	p.t.Helper()
	want := fmt.Sprintf("gen %d", gen)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		c := p.conn()
		if got := c.ask("echo gen"); got == want {
			return c
		}
		c.Close()
		if time.Now().After(deadline) {
			p.t.Fatalf("generation %d does not answer after 20s", gen)
		}
	}
}

// waitExit waits until pid has exited and been reaped, by its parent or,
// once orphaned, by this test process (a subreaper).
func (p *proc) waitExit(pid int) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if reapOrGone(pid, p.cmd) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.t.Fatalf("pid %d still running after 30s", pid)
}

// reapOrGone reaps pid if it is a finished child of ours and reports
// whether it no longer exists (not even as a zombie).
func reapOrGone(pid int, first *exec.Cmd) bool {
	if first != nil && pid == first.Process.Pid {
		if first.ProcessState == nil {
			if !processState(pid, "Z") {
				return false
			}
			first.Wait()
		}
		return true
	}
	var ws syscall.WaitStatus
	if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got == pid || err != nil && processGone(pid) {
		return true
	}
	return processGone(pid)
}

func processGone(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return os.IsNotExist(err)
}

// processState reports whether pid exists in state (as /proc shows it).
func processState(pid int, state string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2:i+3] == state
	}
	return false
}

func (p *proc) killAll() {
	for pid := range p.pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pid := range p.pids {
		for !reapOrGone(pid, p.cmd) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// waitLine waits for a line of helper output that starts with prefix.
func (p *proc) waitLine(prefix string) string {
	p.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("helper output ended before %q", prefix)
			}
			if strings.HasPrefix(line, prefix) {
				return line
			}
		case <-timeout:
			p.t.Fatalf("no %q line after 30s", prefix)
		}
	}
}
