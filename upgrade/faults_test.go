//go:build linux

package upgrade

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hammer sends one request per connection to p until stop is called, and
// returns how many were answered and the first failures.
func hammer(t *testing.T, p *proc) (stop func() (ok int, failed []string)) {
	t.Helper()
	var (
		done   = make(chan struct{})
		wg     sync.WaitGroup
		okN    atomic.Int64
		mu     sync.Mutex
		failed []string
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(2 * time.Minute) // bounded even if stop is never called
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-done:
					return
				default:
				}
				if err := echoOnce(p.addr, fmt.Sprint("req", i)); err != nil {
					mu.Lock()
					if len(failed) < 10 {
						failed = append(failed, err.Error())
					}
					mu.Unlock()
					continue
				}
				okN.Add(1)
			}
		}()
	}
	return func() (int, []string) {
		close(done)
		wg.Wait()
		return int(okN.Load()), failed
	}
}

// A new generation whose PID file cannot be written tells its parent at
// once, stops accepting first, and finishes what it accepted: the parent
// answers in well under the upgrade timeout and no request is lost.
func TestPIDFileFailureIsReportedAtOnceAndLosesNoRequest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	os.Mkdir(dir, 0o755)
	p := startHelper(t, "", "HELPER_PIDFILE="+filepath.Join(dir, "app.pid"), "HELPER_TIMEOUT=20s")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	stop := hammer(t, p)
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	res := p.upgrade("")
	took := time.Since(start)
	time.Sleep(300 * time.Millisecond) // requests keep coming after the answer
	ok, failed := stop()

	if res.OK || res.Reason != string(ReasonReported) || !strings.HasPrefix(res.Message, "pid file: ") {
		t.Fatalf("upgrade with the PID file's directory gone: %+v", res)
	}
	if took > 10*time.Second {
		t.Errorf("the parent answered after %s, with an upgrade timeout of 20s", took)
	}
	if len(failed) > 0 || ok == 0 {
		t.Fatalf("%d requests answered, failures: %q", ok, failed)
	}
	if info := p.info(); info.Generation != 1 {
		t.Fatalf("generation %d serves, want 1", info.Generation)
	}
	// The child exits by itself once it has drained, and is reaped.
	if res.Pid != 0 {
		waitFor(t, func() bool { return processGone(res.Pid) })
	}
}

// A failed child removes the unix socket file it created itself (so that
// the next upgrade can bind it), and never one it inherited.
func TestFailedChildRemovesUnixSocketItCreated(t *testing.T) {
	dir := t.TempDir()
	inherited, created := filepath.Join(dir, "old.sock"), filepath.Join(dir, "new.sock")
	unixFile := filepath.Join(dir, "unix-path")
	p := startHelper(t, "", "HELPER_UNIX="+inherited, "HELPER_UNIX_FILE="+unixFile)
	os.WriteFile(unixFile, []byte(created), 0o644)
	p.setMode("listen-then-fail")
	if res := p.upgrade(""); res.OK || res.Reason != string(ReasonReported) {
		t.Fatalf("upgrade: %+v", res)
	}
	waitFor(t, func() bool { _, err := os.Lstat(created); return os.IsNotExist(err) })
	if _, err := os.Lstat(inherited); err != nil {
		t.Fatalf("the inherited socket file is gone: %v", err)
	}
	p.setMode("")
	g2 := p.mustUpgrade(2)
	c := dialHelper(t, "unix", created)
	defer c.Close()
	if got := c.ask("echo new"); got != "new 2" {
		t.Fatalf("the socket generation %d (pid %d) created answered %q", 2, g2.pid, got)
	}
}

// A child killed before it could clean up: the parent removes the unix
// socket file the child reported it created, and never one it inherited.
func TestParentRemovesUnixSocketOfKilledChild(t *testing.T) {
	dir := t.TempDir()
	inherited, created := filepath.Join(dir, "old.sock"), filepath.Join(dir, "new.sock")
	unixFile := filepath.Join(dir, "unix-path")
	p := startHelper(t, "", "HELPER_UNIX="+inherited, "HELPER_UNIX_FILE="+unixFile)
	os.WriteFile(unixFile, []byte(created), 0o644)
	p.setMode("listen-then-kill")
	if res := p.upgrade(""); res.OK || res.Reason != string(ReasonExited) {
		t.Fatalf("upgrade: %+v", res)
	}
	if _, err := os.Lstat(created); !os.IsNotExist(err) {
		t.Fatalf("the killed child's socket file is still there: %v", err)
	}
	if _, err := os.Lstat(inherited); err != nil {
		t.Fatalf("the inherited socket file is gone: %v", err)
	}
	p.setMode("")
	p.mustUpgrade(2)
	c := dialHelper(t, "unix", created)
	defer c.Close()
	if got := c.ask("echo new"); got != "new 2" {
		t.Fatalf("the socket generation 2 created answered %q", got)
	}
}

// Ready after Stop must not tell the parent "ready": nothing would serve.
func TestReadyAfterStopReportsErrorAndParentKeepsServing(t *testing.T) {
	p := startHelper(t, "")
	p.setMode("stop-then-ready")
	res := p.upgrade("")
	if res.OK || res.Reason != string(ReasonReported) || !strings.Contains(res.Message, "stopped before ready") {
		t.Fatalf("upgrade to a child that stopped before Ready: %+v", res)
	}
	if info := p.info(); info.Generation != 1 {
		t.Fatalf("generation %d serves, want 1", info.Generation)
	}
}

// A status line may be as long as the documented 64 KiB.
func TestLongFailMessageReachesParent(t *testing.T) {
	p := startHelper(t, "")
	p.setMode("report-long")
	res := p.upgrade("")
	if res.OK || res.Reason != string(ReasonReported) || len(res.Message) != len("helper: ")+60<<10 {
		t.Fatalf("upgrade: reason %q, message of %d bytes, error %.200q", res.Reason, len(res.Message), res.Error)
	}
}

// A final stop removes the PID file it wrote, and only if it still names
// this process.
func TestPIDFileRemovedOnFinalStop(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "app.pid")
	p := startHelper(t, "", "HELPER_PIDFILE="+pidfile)
	c := p.conn()
	c.ask("stop")
	c.Close()
	p.waitExit(p.cmd.Process.Pid)
	if b, err := os.ReadFile(pidfile); err == nil {
		t.Fatalf("PID file left after a final stop, naming %q", strings.TrimSpace(string(b)))
	}
}

// echoOnce asks "echo msg" on a connection of its own, without failing the
// test (it runs in other goroutines).
func echoOnce(addr, msg string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte("echo " + msg + "\n")); err != nil {
		return fmt.Errorf("%s: write: %w", msg, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("%s: read: %w", msg, err)
	}
	if !strings.HasPrefix(line, msg+" ") {
		return fmt.Errorf("%s: answered %q", msg, line)
	}
	return nil
}
