//go:build unix

package drain_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// A busy machine can stop a process, and its local clients, for longer
// than IdleGrace. A stall during the drain must not count against the
// grace: right after it, a client takes an idle connection and must be
// answered, not cut.
func TestStallDuringTheDrainDoesNotEatTheGrace(t *testing.T) {
	const (
		grace = 500 * time.Millisecond
		stall = 1200 * time.Millisecond
		n     = 4
	)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%v", helperEnv, grace))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	out := bufio.NewReader(stdout)
	addr := readLine(t, out)
	conns := idleConns(t, addr, n)

	if _, err := io.WriteString(stdin, "drain\n"); err != nil {
		t.Fatal(err)
	}
	if got := readLine(t, out); got != "draining" {
		t.Fatalf("helper said %q, want %q", got, "draining")
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(stall)
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(grace / 10)

	for i, c := range conns {
		body := fmt.Sprintf("after the stall %d", i)
		resp, got, err := c.tryPost(body)
		if err != nil {
			t.Fatalf("connection %d of %d, right after a %v stall: %v", i+1, n, stall, err)
		}
		if resp.StatusCode != http.StatusOK || got != body || !resp.Close {
			t.Fatalf("connection %d: got %s %q close=%v", i+1, resp.Status, got, resp.Close)
		}
		c.expectClosed(t)
	}
	if got := readLine(t, out); got != "drained <nil>" {
		t.Fatalf("helper said %q, want %q", got, "drained <nil>")
	}
}
