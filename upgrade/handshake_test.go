//go:build linux

package upgrade

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rawChild starts the helper with FLIPD_UPGRADE=1 and the given files as
// fds 3, 4, ..., as a parent (or an unlucky environment) would, and
// returns it with its stderr.
func rawChild(t *testing.T, files ...*os.File) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"=1", "HELPER_ADDR=127.0.0.1:0", envHandshake+"=1",
		"HELPER_HANDSHAKE_TIMEOUT=1s", "HELPER_MODE_FILE="+filepath.Join(t.TempDir(), "mode"), "GORACE=atexit_sleep_ms=0")
	cmd.ExtraFiles = files
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &stderr
}

// waitFailed waits (bounded) for cmd to exit non-zero and returns its
// stderr.
func waitFailed(t *testing.T, cmd *exec.Cmd, stderr *bytes.Buffer) string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("the process exited 0; stderr: %s", stderr)
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the process still ran after 15s (it trusted the descriptors); stderr: %s", stderr)
	}
	return stderr.String()
}

func docFrom(t *testing.T, doc string) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString(doc)
	w.Close()
	return r
}

// FLIPD_UPGRADE=1 with fd 4 a user's file: refused, and the file is left
// as it was.
func TestHandshakeRefusesStatusFdThatIsNotAPipe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "user.log")
	os.WriteFile(path, []byte("user data\n"), 0o644)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	hs := docFrom(t, fmt.Sprintf(`{"version":1,"generation":2,"parent_pid":%d}`, os.Getpid()))
	cmd, stderr := rawChild(t, hs, f)
	hs.Close()
	f.Close()
	msg := waitFailed(t, cmd, stderr)
	if !strings.Contains(msg, "fd 4") || !strings.Contains(msg, "not a pipe") {
		t.Errorf("error does not name the problem: %s", msg)
	}
	if b, _ := os.ReadFile(path); string(b) != "user data\n" {
		t.Fatalf("the file on fd 4 now holds %q", b)
	}
}

// An open pipe on fd 3 that nobody writes ends start-up with an error
// after the handshake deadline, not a hang.
func TestHandshakePipeNobodyWritesTimesOut(t *testing.T) {
	hsR, hsW, _ := os.Pipe()
	defer hsW.Close()
	stR, stW, _ := os.Pipe()
	defer stR.Close()
	cmd, stderr := rawChild(t, hsR, stW)
	hsR.Close()
	stW.Close()
	msg := waitFailed(t, cmd, stderr)
	if !strings.Contains(msg, "no handshake document within 1s") {
		t.Errorf("error does not name the problem: %s", msg)
	}
	if b, _ := io.ReadAll(stR); len(b) != 0 {
		t.Errorf("the process wrote %q on fd 4", b)
	}
}

// A document that names another process as the parent is not ours.
func TestHandshakeNamingAnotherParentIsRefused(t *testing.T) {
	hs := docFrom(t, `{"version":1,"generation":2,"parent_pid":1}`)
	stR, stW, _ := os.Pipe()
	defer stR.Close()
	cmd, stderr := rawChild(t, hs, stW)
	hs.Close()
	stW.Close()
	msg := waitFailed(t, cmd, stderr)
	if !strings.Contains(msg, "parent_pid 1") || !strings.Contains(msg, "not this process's parent") {
		t.Errorf("error does not name the problem: %s", msg)
	}
	if b, _ := io.ReadAll(stR); len(b) != 0 {
		t.Errorf("the process wrote %q on fd 4", b)
	}
}

// A parent built from the release before the checks sends exactly this;
// a child of this build must still take it and report ready.
func TestChildAcceptsHandshakeOfPreviousRelease(t *testing.T) {
	aliveR, aliveW, _ := os.Pipe()
	defer aliveW.Close()
	stR, stW, _ := os.Pipe()
	defer stR.Close()
	hs := docFrom(t, fmt.Sprintf(`{"version":1,"generation":2,"parent_pid":%d,"executable":"/nonexistent/app",`+
		`"files":[],"draining":[{"pid":%[1]d,"generation":1,"started":"2026-01-02T03:04:05Z","fd":5}]}`, os.Getpid()))
	cmd, stderr := rawChild(t, hs, stW, aliveR)
	hs.Close()
	stW.Close()
	aliveR.Close()
	stR.SetReadDeadline(time.Now().Add(30 * time.Second))
	msg, err := readStatus(stR)
	if err != nil || msg.Status != statusReady || msg.Pid != cmd.Process.Pid {
		t.Fatalf("status %+v, %v; stderr: %s", msg, err, stderr)
	}
}

// A child whose parent was killed mid-handshake is orphaned: the document
// names a pid that no longer exists, and the child must still serve.
func TestHandshakeFromParentThatDiedIsAccepted(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Skip("no true:", err)
	}
	stR, stW, _ := os.Pipe()
	defer stR.Close()
	hs := docFrom(t, fmt.Sprintf(`{"version":1,"generation":2,"parent_pid":%d}`, gone.Process.Pid))
	cmd, stderr := rawChild(t, hs, stW)
	hs.Close()
	stW.Close()
	stR.SetReadDeadline(time.Now().Add(30 * time.Second))
	msg, err := readStatus(stR)
	if err != nil || msg.Status != statusReady || msg.Pid != cmd.Process.Pid {
		t.Fatalf("status %+v, %v; stderr: %s", msg, err, stderr)
	}
}
