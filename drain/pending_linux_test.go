package drain_test

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/flipd/flipd/drain"
)

// stallListener hands out connections whose reads wait until gate is
// closed: a server too starved to read what its clients sent.
type stallListener struct {
	net.Listener
	gate chan struct{}
}

func (l *stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &stallConn{TCPConn: c.(*net.TCPConn), gate: l.gate}, nil
}

type stallConn struct {
	*net.TCPConn
	gate chan struct{}
}

func (c *stallConn) Read(p []byte) (int, error) {
	<-c.gate
	return c.TCPConn.Read(p)
}

// A connection looks silent to net/http until it reads the request, and a
// stalled server reads late. A request that waits in the socket when the
// grace ends is not cut: it is answered once the server reads it.
func TestRequestWaitingUnreadIsNotCut(t *testing.T) {
	r, err := drainWithRequestWaiting(t, func(ln net.Listener, gate chan struct{}) net.Listener {
		return &stallListener{Listener: ln, gate: gate}
	}, "waiting")
	if r.err != nil {
		t.Fatalf("request waiting in the socket when the grace ended: %v", r.err)
	}
	if r.resp.StatusCode != http.StatusOK || r.body != "waiting" || !r.resp.Close {
		t.Fatalf("got %s %q close=%v, want 200 %q with Connection: close", r.resp.Status, r.body, r.resp.Close, "waiting")
	}
	if err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// waitingGrace is the drain's grace in drainWithRequestWaiting.
const waitingGrace = 200 * time.Millisecond

// drainWithRequestWaiting serves echo on the listener wrap makes of a
// loopback one, whose connections read only once gate is closed; sends
// body on a connection before the drain begins, so that it waits in the
// socket when the grace ends (sent from another goroutine, on a busy
// machine it could come after: a request on an idle connection as it
// closes, the race the grace is there for); lets the grace pass, requires
// the request still open, and closes gate. It returns the response and
// Shutdown's error.
func drainWithRequestWaiting(t *testing.T, wrap func(ln net.Listener, gate chan struct{}) net.Listener, body string) (postResult, error) {
	t.Helper()
	ln := listen(t)
	gate := make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	})
	g := serve(t, wrap(ln, gate), echo, drain.Options{IdleGrace: waitingGrace, CloseWindow: -1})
	c := dialRaw(t, ln.Addr().String())
	waitFor(t, "the connection to be tracked", func() bool { return g.d.OpenConns() == 1 })

	got := c.sentAsync(t, body)
	done := g.shutdownAsync(t, 10*time.Second)
	time.Sleep(3 * waitingGrace) // the grace is over; the request waits unread
	select {
	case r := <-got:
		t.Fatalf("the request ended before the server read it: %v", r.err)
	default:
	}
	close(gate)
	return <-got, <-done
}

// slowReadListener hands out connections that, once gate is closed, take
// a while to return what they read: the request has left the socket, and
// net/http has not parsed it yet.
type slowReadListener struct {
	net.Listener
	gate chan struct{}
	hold time.Duration
}

func (l *slowReadListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &slowReadConn{stallConn{TCPConn: c.(*net.TCPConn), gate: l.gate}, l.hold}, nil
}

type slowReadConn struct {
	stallConn
	hold time.Duration
}

func (c *slowReadConn) Read(p []byte) (int, error) {
	n, err := c.stallConn.Read(p)
	time.Sleep(c.hold)
	return n, err
}

// A request the drain saw waiting in the socket is not cut once the
// server has read it either, while net/http parses it: the connection
// still looks silent, and its socket is empty.
func TestRequestSeenWaitingIsNotCutOnceReadBeforeItIsParsed(t *testing.T) {
	// Read once the gate opens, parsed only 2s later.
	r, err := drainWithRequestWaiting(t, func(ln net.Listener, gate chan struct{}) net.Listener {
		return &slowReadListener{Listener: ln, gate: gate, hold: 10 * waitingGrace}
	}, "read late")
	if r.err != nil {
		t.Fatalf("request read but not parsed when the drain looked again: %v", r.err)
	}
	if r.resp.StatusCode != http.StatusOK || r.body != "read late" {
		t.Fatalf("got %s %q, want 200 %q", r.resp.Status, r.body, "read late")
	}
	if err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
