//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSuperviseCtrlCInATerminalStopsOnce types Ctrl-C on a terminal whose
// foreground process group runs the supervisor. The terminal signals the
// whole group; the generations are in a group of their own, so the serving
// one sees exactly one SIGINT (forwarded), not one from the terminal and a
// second from the supervisor, which flipd would take as "close now".
func TestSuperviseCtrlCInATerminalStopsOnce(t *testing.T) {
	lh := buildLibraryHTTP(t)
	master, slave := openPty(t)
	addr := freeAddr(t)
	logPath := filepath.Join(t.TempDir(), "supervise.log")
	cmd := startOnTerminal(t, slave, logPath, flipdBin, "supervise", "--", lh, "-listen", addr, "-drain-timeout", "20s")
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s := &supervised{t: t, addr: addr, logFile: logPath, exited: make(chan struct{})}
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("supervise log:\n%s", s.log())
		}
	})
	s.waitGeneration(1, 20*time.Second)
	// A request generation 1 is still reading keeps it draining after
	// the reload: a Ctrl-C must not reach it.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\na")
	time.Sleep(100 * time.Millisecond) // generation 1 is in the handler
	s.reload(cmd.Process.Pid)
	s.waitLog("draining:", 1)

	if _, err := master.Write([]byte{0x03}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	s.waitLog("stopping:", 1)
	time.Sleep(200 * time.Millisecond) // time for a second stop to show
	conn.Write([]byte("b"))
	if answer, err := io.ReadAll(conn); err != nil || !strings.Contains(string(answer), "generation=1") {
		t.Errorf("the request generation 1 was reading got %q, %v; want its answer", answer, err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the supervisor exited with %v after Ctrl-C, want status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the supervisor did not exit after Ctrl-C")
	}
	requireNoneLeft(t, lh, addr)
	if n := strings.Count(s.log(), "stopping:"); n != 1 {
		t.Errorf("the generations logged %d stops after one Ctrl-C, want 1", n)
	}
}

// openPty opens a new pseudo-terminal and returns its master and slave.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skip("no pseudo-terminal here:", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skip("unlocking the pseudo-terminal:", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skip("naming the pseudo-terminal:", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skip("opening the pseudo-terminal:", err)
	}
	return master, slave
}

// startOnTerminal starts argv as a shell starts a foreground job: in a
// session of its own with slave as its controlling terminal and stdin, so
// that its group is the terminal's foreground group. Its output goes to a
// new logPath; slave, which argv holds now, is closed.
func startOnTerminal(t *testing.T, slave *os.File, logPath string, argv ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	return cmd
}
