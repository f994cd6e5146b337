package drain

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flipd/flipd/internal/poll"
)

// The connection wrapper gives the connection inside the read deadlines
// net/http asks for only when they draw near: a keep-alive request arms
// no timer, neither its idle wait's nor its header's. These tests check
// that, and that every deadline still ends the Reads it should, at its
// time.

// countingConn counts the future read deadlines set on it, each one a
// timer in the runtime, and notes the count as each write begins.
type countingConn struct {
	*net.TCPConn
	armed   atomic.Int64
	armedAt chan int64
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	if t.After(time.Now()) {
		c.armed.Add(1)
	}
	return c.TCPConn.SetReadDeadline(t)
}

func (c *countingConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.TCPConn.SetWriteDeadline(t)
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.armedAt <- c.armed.Load()
	return c.TCPConn.Write(p)
}

// countingListener serves its connections as countingConns inside the
// drain's wrapper.
type countingListener struct {
	net.Listener
	d  *Server
	at chan int64
}

// Unwrap lets the drain see the TCP listener inside: it may enforce the
// timeouts itself (timeouts.go).
func (l *countingListener) Unwrap() net.Listener { return l.Listener }

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newHandoffConn(&countingConn{TCPConn: c.(*net.TCPConn), armedAt: l.at}, l.d), nil
}

func TestAKeepAliveRequestArmsNoReadDeadlineTimer(t *testing.T) {
	const requests = 20
	// From the first response to the last: the idle wait after each
	// response but the last, and the requests after the first, all far.
	if n, _, _ := farDeadlinesOfKeepAliveRequests(t, requests, Options{}); n != 0 {
		t.Errorf("%d future read deadlines set on the connection for %d keep-alive requests, want none: the server's timeouts are far",
			n, requests-1)
	}
}

// farDeadlinesOfKeepAliveRequests serves requests keep-alive requests on
// one connection, with the http module's default timeouts, through a
// drain with opts, and counts the future read deadlines set on the
// connection inside the wrapper from the first response to the last.
func farDeadlinesOfKeepAliveRequests(t *testing.T, requests int, opts Options) (int64, *Server, *http.Server) {
	t.Helper()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello")
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	d := New(srv, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln, d: d, at: make(chan int64, requests)}
	go d.Serve(cl)
	t.Cleanup(func() { srv.Close() })

	c, r := dialKeepAlive(t, ln.Addr().String())
	for i := range requests {
		getHello(t, c, r, i)
	}
	var at []int64
	for range requests {
		at = append(at, <-cl.at)
	}
	return at[requests-1] - at[0], d, srv
}

// connPair returns a connection the drain's wrapper serves, and its peer.
func connPair(t *testing.T) (*handoffConn, net.Conn) {
	t.Helper()
	c, peer := tcpPair(t)
	hc := newHandoffConn(c, New(&http.Server{}, Options{}))
	t.Cleanup(func() { hc.Close(); peer.Close() })
	return hc, peer
}

// tcpPair returns the two ends of a loopback TCP connection: the
// accepted one, and its peer.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		peer.Close()
		t.Fatal(err)
	}
	return c, peer
}

// readResult is what a Read returned, and when.
type readResult struct {
	n   int
	err error
	at  time.Time
}

func readAsync(c net.Conn, p []byte) <-chan readResult {
	got := make(chan readResult, 1)
	go func() {
		n, err := c.Read(p)
		got <- readResult{n, err, time.Now()}
	}()
	return got
}

func await(t *testing.T, got <-chan readResult) readResult {
	t.Helper()
	select {
	case r := <-got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return within 10s")
		return readResult{}
	}
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestAReadDeadlineThatHasPassedFailsTheReadThoughBytesWait(t *testing.T) {
	hc, peer := connPair(t)
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	waitForInput(t, hc)
	hc.SetReadDeadline(time.Now().Add(-time.Millisecond))
	p := make([]byte, 4)
	if n, err := hc.Read(p); n != 0 || !isTimeoutErr(err) {
		t.Fatalf("Read past the deadline: %d bytes, %v; want a timeout", n, err)
	}
	hc.SetReadDeadline(time.Time{})
	if n, err := hc.Read(p); n != 1 || err != nil || p[0] != 'x' {
		t.Fatalf("Read without a deadline: %q, %v; want \"x\"", p[:n], err)
	}
}

func TestAReadDeadlineSetBeforeTheReadEndsIt(t *testing.T) {
	hc, _ := connPair(t)
	deadline := time.Now().Add(100 * time.Millisecond)
	hc.SetReadDeadline(deadline)
	r := await(t, readAsync(hc, make([]byte, 4)))
	if r.n != 0 || !isTimeoutErr(r.err) {
		t.Fatalf("Read: %d bytes, %v; want a timeout", r.n, r.err)
	}
	if r.at.Before(deadline) {
		t.Fatalf("Read timed out %s before its deadline", deadline.Sub(r.at))
	}
}

func TestAReadDeadlineSetBeforeTheReadLetsItTakeTheBytesThatWait(t *testing.T) {
	hc, peer := connPair(t)
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	waitForInput(t, hc)
	hc.SetReadDeadline(time.Now().Add(time.Minute))
	p := make([]byte, 4)
	if n, err := hc.Read(p); n != 1 || err != nil || p[0] != 'x' {
		t.Fatalf("Read: %q, %v; want \"x\"", p[:n], err)
	}
	peer.Close()
	hc.SetReadDeadline(time.Now().Add(time.Minute))
	if n, err := hc.Read(p); n != 0 || err != io.EOF {
		t.Fatalf("Read of a closed connection: %d bytes, %v; want io.EOF", n, err)
	}
}

func TestAReadDeadlineChangedDuringTheReadApplies(t *testing.T) {
	hc, peer := connPair(t)
	p := make([]byte, 4)

	// Brought forward: the waiting Read ends at the new deadline.
	hc.SetReadDeadline(time.Now().Add(time.Minute))
	got := readAsync(hc, p)
	poll.Until(t, 10*time.Second, "the Read to wait", hc.isReading)
	sooner := time.Now().Add(50 * time.Millisecond)
	hc.SetReadDeadline(sooner)
	if r := await(t, got); r.n != 0 || !isTimeoutErr(r.err) || r.at.Before(sooner) {
		t.Fatalf("Read: %d bytes, %v, %s after the deadline; want a timeout after it", r.n, r.err, r.at.Sub(sooner))
	}

	// Put off: the waiting Read outlives the first deadline.
	first := time.Now().Add(50 * time.Millisecond)
	hc.SetReadDeadline(first)
	got = readAsync(hc, p)
	poll.Until(t, 10*time.Second, "the Read to wait", hc.isReading)
	hc.SetReadDeadline(time.Time{})
	time.Sleep(time.Until(first) + 50*time.Millisecond)
	if _, err := peer.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	if r := await(t, got); r.n != 1 || r.err != nil || p[0] != 'y' {
		t.Fatalf("Read after the deadline was lifted: %q, %v; want \"y\"", p[:r.n], r.err)
	}
}

// waitForInput waits until bytes wait in hc's socket.
func waitForInput(t *testing.T, hc *handoffConn) {
	t.Helper()
	if runtime.GOOS != "linux" { // hasInput does not know
		time.Sleep(100 * time.Millisecond)
		return
	}
	poll.Until(t, 10*time.Second, "the bytes to arrive", func() bool { return hasInput(hc.Conn) })
}

// isReading reports whether a Read waits in the connection inside.
func (c *handoffConn) isReading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reading
}

// quickKeeper gives d a deadline keeper of its own, which looks every
// 20ms and gives deadlines 30ms before they end, so that a test sees far
// deadlines end without waiting seconds. Call it before d serves.
func quickKeeper(d *Server) {
	d.lazy = newLazyDeadlines(20*time.Millisecond, 30*time.Millisecond)
}

// heldBack reports whether the wrapper keeps a far deadline from the
// connection inside.
func (c *handoffConn) heldBack() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending && c.armed.IsZero()
}

func TestAFarReadDeadlineEndsTheReadAtItsTime(t *testing.T) {
	hc, _ := connPair(t)
	quickKeeper(hc.d)
	p := make([]byte, 4)
	for i, wait := range []time.Duration{300 * time.Millisecond, 200 * time.Millisecond} {
		deadline := time.Now().Add(wait)
		hc.SetReadDeadline(deadline)
		if i > 0 && !hc.heldBack() { // the first starts the keeper
			t.Fatalf("deadline %s away given to the connection at once, want it kept until it nears", wait)
		}
		r := await(t, readAsync(hc, p))
		if r.n != 0 || !isTimeoutErr(r.err) {
			t.Fatalf("Read: %d bytes, %v; want a timeout", r.n, r.err)
		}
		if r.at.Before(deadline) {
			t.Fatalf("Read timed out %s before its deadline", deadline.Sub(r.at))
		}
		hc.SetReadDeadline(time.Time{})
	}
}

func TestAFarReadDeadlineLiftedLetsTheReadWait(t *testing.T) {
	hc, peer := connPair(t)
	quickKeeper(hc.d)
	p := make([]byte, 4)
	hc.SetReadDeadline(time.Now().Add(time.Minute)) // starts the keeper
	first := time.Now().Add(200 * time.Millisecond)
	hc.SetReadDeadline(first)
	if !hc.heldBack() {
		t.Fatal("deadline 200ms away given to the connection at once, want it kept until it nears")
	}
	got := readAsync(hc, p)
	poll.Until(t, 10*time.Second, "the Read to wait", hc.isReading)
	// Lifted after the keeper gave it to the connection, and before.
	time.Sleep(time.Until(first) - 10*time.Millisecond)
	hc.SetReadDeadline(time.Time{})
	time.Sleep(100 * time.Millisecond)
	if _, err := peer.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	if r := await(t, got); r.n != 1 || r.err != nil || p[0] != 'y' {
		t.Fatalf("Read after the deadline was lifted: %q, %v; want \"y\"", p[:r.n], r.err)
	}
}

func TestTheServerClosesAConnectionIdleForIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello")
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       idle,
	}
	d := New(srv, Options{})
	quickKeeper(d)
	c, r := dialKeepAlive(t, serveLoopback(t, d, srv))
	var answered time.Time
	for i := range 3 { // the first starts the keeper; the others' idle waits are far
		getHello(t, c, r, i)
		answered = time.Now()
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want the server to close it (EOF)", err)
	}
	if waited := time.Since(answered); waited < idle {
		t.Fatalf("idle connection closed after %s, before IdleTimeout (%s)", waited, idle)
	}
}

func TestTheDeadlineKeeperStopsWhenNoFarDeadlineIsLeft(t *testing.T) {
	hc, _ := connPair(t)
	quickKeeper(hc.d)
	hc.SetReadDeadline(time.Now().Add(time.Minute))
	hc.SetReadDeadline(time.Now().Add(time.Minute))
	if !hc.d.lazy.running.Load() || !hc.heldBack() {
		t.Fatal("a far deadline: the keeper does not run, or the deadline was given at once")
	}
	hc.SetReadDeadline(time.Time{})
	poll.Until(t, 10*time.Second, "the keeper to stop", func() bool { return !hc.d.lazy.running.Load() })
	// It starts again for the next one.
	hc.SetReadDeadline(time.Now().Add(time.Minute))
	if !hc.d.lazy.running.Load() {
		t.Fatal("the keeper did not start again for a far deadline")
	}
	hc.Close()
	poll.Until(t, 10*time.Second, "the keeper to stop once the conn closed", func() bool { return !hc.d.lazy.running.Load() })
	hc.d.lazy.mu.Lock()
	defer hc.d.lazy.mu.Unlock()
	if n := len(hc.d.lazy.conns); n != 0 {
		t.Fatalf("the keeper still lists %d connections after they closed", n)
	}
}

// serveLoopback serves srv through d on a loopback port until the test
// ends, and returns its address.
func serveLoopback(t *testing.T, d *Server, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go d.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// dialKeepAlive connects to addr for keep-alive requests by hand.
func dialKeepAlive(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// getHello sends request i on c and requires the answer "hello".
func getHello(t *testing.T, c net.Conn, r *bufio.Reader, i int) {
	t.Helper()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: test\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("response %d: %v", i+1, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "hello" {
		t.Fatalf("response %d: %q, %v", i+1, body, err)
	}
}

func TestEveryServerSharesOneDeadlineKeeper(t *testing.T) {
	a, b := New(&http.Server{}, Options{}), New(&http.Server{}, Options{})
	if a.lazy != b.lazy {
		t.Fatal("two servers have deadline keepers of their own, want one for the process (one goroutine and one timerfd, however many listeners)")
	}
}

// While net/http serves a request, the connection cannot move, and its
// Reads (the handler's of the body, net/http's in the background) go
// straight to the socket: they take no lock of the wrapper's.
func TestARequestsBodyIsReadWithoutTheConnectionsLock(t *testing.T) {
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	locked := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ci, _ := r.Context().Value(connInfoKey{}).(*connInfo)
		if ci == nil || ci.hc == nil {
			got <- result{err: errors.New("the request's connection is not the drain's wrapper")}
			return
		}
		ci.hc.mu.Lock()
		close(locked)
		read := make(chan result, 1)
		go func() {
			b, err := io.ReadAll(r.Body)
			read <- result{string(b), err}
		}()
		select {
		case res := <-read:
			got <- res
		case <-time.After(5 * time.Second):
			got <- result{err: errors.New("the body's Read waited 5s for the wrapper's lock")}
		}
		ci.hc.mu.Unlock()
	})}
	c, r := dialKeepAlive(t, serveLoopback(t, New(srv, Options{}), srv))
	// The body comes once the handler holds the lock, in a Read of its own.
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
	var res result
	select {
	case <-locked:
		io.WriteString(c, "hello")
		res = <-got
	case res = <-got:
	}
	if res.err != nil || res.body != "hello" {
		t.Fatalf("body %q, %v; want \"hello\"", res.body, res.err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}
