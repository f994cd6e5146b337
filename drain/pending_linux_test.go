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
	const grace = 200 * time.Millisecond
	ln := listen(t)
	gate := make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	})
	g := serve(t, &stallListener{Listener: ln, gate: gate}, echo, drain.Options{IdleGrace: grace, CloseWindow: -1})
	c := dialRaw(t, ln.Addr().String())
	waitFor(t, "the connection to be tracked", func() bool { return g.d.OpenConns() == 1 })

	// Written before the drain begins, so that it waits in the socket
	// when the grace ends (from another goroutine, a busy machine could
	// send it after: a request on an idle connection as it closes, the
	// race the grace is there for).
	got := c.sentAsync(t, "waiting")
	done := g.shutdownAsync(t, 10*time.Second)
	time.Sleep(3 * grace) // the grace is over; the request waits unread
	select {
	case r := <-got:
		t.Fatalf("the request ended before the server read it: %v", r.err)
	default:
	}
	close(gate)

	r := <-got
	if r.err != nil {
		t.Fatalf("request waiting in the socket when the grace ended: %v", r.err)
	}
	if r.resp.StatusCode != http.StatusOK || r.body != "waiting" || !r.resp.Close {
		t.Fatalf("got %s %q close=%v, want 200 %q with Connection: close", r.resp.Status, r.body, r.resp.Close, "waiting")
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
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
	const grace = 200 * time.Millisecond
	ln := listen(t)
	gate := make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	})
	g := serve(t, &slowReadListener{Listener: ln, gate: gate, hold: 10 * grace}, echo, drain.Options{IdleGrace: grace, CloseWindow: -1})
	c := dialRaw(t, ln.Addr().String())
	waitFor(t, "the connection to be tracked", func() bool { return g.d.OpenConns() == 1 })

	got := c.sentAsync(t, "read late")
	done := g.shutdownAsync(t, 10*time.Second)
	time.Sleep(3 * grace) // the grace is over; the drain has seen the request wait
	close(gate)           // read now, parsed only 2s later

	r := <-got
	if r.err != nil {
		t.Fatalf("request read but not parsed when the drain looked again: %v", r.err)
	}
	if r.resp.StatusCode != http.StatusOK || r.body != "read late" {
		t.Fatalf("got %s %q, want 200 %q", r.resp.Status, r.body, "read late")
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
