package bench

import (
	"net"
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

func TestEstablishedToCountsTheClientSidesOfConnectionsToAListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, l := range []net.Listener{ln, ln, ln, other} {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if n, err := establishedTo(ln.Addr().String()); err != nil || n != 3 {
		t.Fatalf("%d connections to %s (%v), want 3", n, ln.Addr(), err)
	}
	if n, err := establishedTo(ln.Addr().String(), other.Addr().String()); err != nil || n != 4 {
		t.Fatalf("%d connections to both listeners (%v), want 4", n, err)
	}
	conns[0].Close()
	// The client side of a closed connection leaves ESTABLISHED at once.
	if n, err := establishedTo(ln.Addr().String()); err != nil || n != 2 {
		t.Fatalf("%d connections after a close (%v), want 2", n, err)
	}
	if _, err := establishedTo("[::1]:80"); err == nil {
		t.Fatal("an IPv6 address was accepted")
	}
}
