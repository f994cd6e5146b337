package drain_test

import (
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/flipd/flipd/drain"
)

// hijacker takes each request's connection, answers "hijacked\n" and
// echoes until its client ends, then closes it; closed receives what the
// last read returned.
func hijacker(closed chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			closed <- err
			return
		}
		defer c.Close()
		io.WriteString(c, "hijacked\n")
		_, err = io.Copy(c, brw)
		closed <- err
	})
}

// dialHijacked opens a connection that the hijacker takes.
func dialHijacked(t *testing.T, addr string) *rawConn {
	t.Helper()
	c := dialRaw(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if line, err := c.r.ReadString('\n'); err != nil || line != "hijacked\n" {
		t.Fatalf("hijack: %q, %v", line, err)
	}
	return c
}

func TestHijackedConnectionIsCountedKeepsTheDrainAndGetsAFINAtTheDeadline(t *testing.T) {
	closed := make(chan error, 1)
	g := serve(t, listen(t), hijacker(closed), drain.Options{})
	c := dialHijacked(t, g.ln.Addr().String())
	if n := g.d.OpenConns(); n != 1 {
		t.Errorf("OpenConns = %d with one hijacked connection, want 1", n)
	}

	const timeout = 2 * time.Second
	start := time.Now()
	done := g.shutdownAsync(t, timeout)
	// It still works during the drain.
	time.Sleep(timeout / 4)
	io.WriteString(c, "still here\n")
	if line, err := c.r.ReadString('\n'); err != nil || line != "still here\n" {
		t.Fatalf("echo during the drain: %q, %v", line, err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v after %s with a hijacked connection open", err, time.Since(start))
	default:
	}
	if n := g.d.OpenConns(); n != 1 {
		t.Errorf("OpenConns = %d during the drain, want 1", n)
	}

	// Near the deadline: a FIN, not a reset.
	rest, err := io.ReadAll(c.r)
	if err != nil || len(rest) != 0 {
		t.Fatalf("client read %q, %v; want EOF", rest, err)
	}
	if elapsed := time.Since(start); elapsed > timeout {
		t.Errorf("the FIN came %s after the drain began, past its deadline %s", elapsed, timeout)
	}
	c.Conn.(*net.TCPConn).CloseWrite()
	if err := <-closed; err != nil {
		t.Errorf("handler's read: %v, want EOF", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v, want nil: the connection ended cleanly", err)
	}
}

func TestHijackedConnectionsEndSpreadOverTheCloseSpread(t *testing.T) {
	const n, spread, timeout = 8, 1500 * time.Millisecond, 3 * time.Second
	closed := make(chan error, n)
	g := serve(t, listen(t), hijacker(closed), drain.Options{CloseSpread: spread})
	conns := make([]*rawConn, n)
	for i := range conns {
		conns[i] = dialHijacked(t, g.ln.Addr().String())
	}
	ends := make(chan time.Time, n)
	for _, c := range conns {
		go func() {
			io.Copy(io.Discard, c.r)
			ends <- time.Now()
			c.Conn.(*net.TCPConn).CloseWrite()
		}()
	}
	done := g.shutdownAsync(t, timeout)
	var at []time.Time
	for range n {
		at = append(at, <-ends)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	if got := at[n-1].Sub(at[0]); got < spread/2 {
		t.Errorf("the %d FINs came within %s, want them spread over about %s", n, got, spread)
	}
}

func TestTrackedConnectionCountsAndEndsItsOwnWay(t *testing.T) {
	g := serve(t, listen(t), echo, drain.Options{})
	a, b := net.Pipe()
	defer b.Close()
	ended := make(chan time.Time, 1)
	tracked := g.d.Track(a, func(by time.Time) { ended <- by; a.Close() })
	if n := g.d.OpenConns(); n != 1 {
		t.Errorf("OpenConns = %d with one tracked connection, want 1", n)
	}
	done := g.shutdownAsync(t, time.Second)
	select {
	case by := <-ended:
		tracked.Close()
		if time.Until(by) <= 0 {
			t.Errorf("the end function got a deadline in the past: %s", by)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the tracked connection's end function was not called")
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
