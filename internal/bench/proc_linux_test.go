package bench

import (
	"os/exec"
	"testing"
	"time"
)

// TestWaitExitedSeesAnExitWhoeverReapsIt checks the pidfd wait: a process
// still running is not taken for gone, one that exits is seen as it does
// (a zombie not yet reaped counts), and one already reaped is gone.
func TestWaitExitedSeesAnExitWhoeverReapsIt(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("needs sleep(1)")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer cmd.Process.Kill()
	if _, ok := waitExited(pid, 50*time.Millisecond); ok {
		t.Fatal("a running process was taken for gone")
	}
	cmd.Process.Kill() // not reaped: a zombie until Wait
	if _, ok := waitExited(pid, 10*time.Second); !ok {
		t.Fatal("the killed process, a zombie, was not seen to exit")
	}
	if !exited(pid) {
		t.Fatal("exited disagrees: the zombie is not gone")
	}
	cmd.Wait()
	if _, ok := waitExited(pid, time.Second); !ok {
		t.Fatal("a reaped process was not seen as gone")
	}
}
