package drain_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flipd/flipd/drain"
)

// inQueue is how many bytes wait unread in c's receive buffer, or -1.
func inQueue(c net.Conn) int {
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return -1
	}
	n := -1
	raw.Control(func(fd uintptr) {
		if v, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ); err == nil {
			n = v
		}
	})
	return n
}

// recordingListener keeps the server side of the connections it accepts,
// so that a test can look at their receive buffers.
type recordingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// only returns the one connection accepted.
func (l *recordingListener) only(t *testing.T) net.Conn {
	t.Helper()
	waitFor(t, "the connection to be accepted", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.conns) == 1
	})
	return l.conns[0]
}

// A request that has reached the socket but that net/http has not read
// when the connection moves goes with the descriptor and is answered by
// the new server.
func TestARequestInTheSocketAtTheMoveIsAnsweredByTheNewServer(t *testing.T) {
	ln := listen(t)
	oldGen := serve(t, ln, named("old"), drain.Options{})
	newGen := serve(t, listen(t), named("new"), drain.Options{})
	c := idleConns(t, ln.Addr().String(), 1)[0]

	m := newFDMover(t, newGen.d.Adopt)
	var res <-chan postResult
	inSocket := false
	m.setBefore(func(sc net.Conn) {
		// The connection is the mover's: net/http let go of it. The
		// client sends now.
		res = c.postAsync("sent as it moves")
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if inQueue(sc) > 0 {
				inSocket = true
				return
			}
		}
	})
	oldGen.d.MoveIdle(m.move)
	waitFor(t, "the connection to move", func() bool { return m.moved.Load() == 1 })
	if !inSocket {
		t.Fatal("the request did not reach the socket before the move")
	}
	r := <-res
	if r.err != nil {
		t.Fatalf("the request sent as the connection moved: %v", r.err)
	}
	expectFrom(t, "the request sent as the connection moved", r.resp, r.body, "new", "sent as it moves")
}

// A connection whose next request net/http has begun to read does not
// move: the request is answered by the old server, without "Connection:
// close" though it drains, and the connection moves once idle again.
func TestAPartlyReadRequestIsAnsweredBeforeTheConnectionMoves(t *testing.T) {
	ln := &recordingListener{Listener: listen(t)}
	oldGen := serve(t, ln, named("old"), drain.Options{IdleGrace: time.Millisecond, CloseWindow: -1})
	newGen := serve(t, listen(t), named("new"), drain.Options{})
	c := idleConns(t, ln.Addr().String(), 1)[0]
	sc := ln.only(t)

	req := request(t, "partly read")
	half := len(req) / 2
	if _, err := c.Write(req[:half]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server to read the first half", func() bool { return inQueue(sc) == 0 })

	m := newFDMover(t, newGen.d.Adopt)
	oldGen.d.MoveIdle(m.move)
	done := oldGen.shutdownAsync(t, 10*time.Second)
	time.Sleep(moveWindow) // it must not move, nor close, meanwhile
	if n := m.calls.Load(); n != 0 {
		t.Fatalf("a connection with a partly read request was handed to the mover")
	}
	if _, err := c.Write(req[half:]); err != nil {
		t.Fatal(err)
	}
	resp, got := c.read(t)
	expectFrom(t, "the partly read request", resp, got, "old", "partly read")
	if resp.Close {
		t.Error("the answer asks to close a connection that can move")
	}
	waitFor(t, "the connection to move once idle", func() bool { return m.moved.Load() == 1 })
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	resp, got = c.post(t, "after the move")
	expectFrom(t, "the request after the move", resp, got, "new", "after the move")
}

// Pipelined requests that net/http has read ahead into its buffer are
// answered by the old server, in order; the connection moves only once
// net/http holds no byte of the next request.
func TestPipelinedRequestsAreAnsweredInOrderAcrossTheMove(t *testing.T) {
	gate, entered, release := blocking(t)
	ln := &recordingListener{Listener: listen(t)}
	oldGen := serve(t, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server-Name", "old")
		if r.URL.Query().Has("gate") {
			gate.ServeHTTP(w, r)
			return
		}
		echo.ServeHTTP(w, r)
	}), drain.Options{IdleGrace: time.Millisecond, CloseWindow: -1})
	newGen := serve(t, listen(t), named("new"), drain.Options{})
	c := dialRaw(t, ln.Addr().String())

	first := bytes.Replace(request(t, "one"), []byte("POST / "), []byte("POST /?gate "), 1)
	third := request(t, "three")
	half := len(third) / 2
	pipeline := append(append(append([]byte{}, first...), request(t, "two")...), third[:half]...)
	if _, err := c.Write(pipeline); err != nil {
		t.Fatal(err)
	}
	<-entered
	waitFor(t, "the server to read the pipeline", func() bool { return inQueue(ln.only(t)) == 0 })

	m := newFDMover(t, newGen.d.Adopt)
	oldGen.d.MoveIdle(m.move)
	done := oldGen.shutdownAsync(t, 10*time.Second)
	release()
	for _, want := range []string{"one", "two"} {
		resp, got := c.read(t)
		expectFrom(t, "pipelined request "+want, resp, got, "old", want)
	}
	time.Sleep(moveWindow) // net/http holds half of the third request
	if n := m.calls.Load(); n != 0 {
		t.Fatalf("the connection was handed to the mover while net/http held half a request")
	}
	if _, err := c.Write(third[half:]); err != nil {
		t.Fatal(err)
	}
	resp, got := c.read(t)
	expectFrom(t, "pipelined request three", resp, got, "old", "three")
	waitFor(t, "the connection to move once idle", func() bool { return m.moved.Load() == 1 })
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	resp, got = c.post(t, "four")
	expectFrom(t, "the request after the move", resp, got, "new", "four")
}

// net/http reads a byte ahead while a handler runs, once the request's
// body is read: a request the client sends then is partly net/http's, and
// the connection must not move until it is answered.
func TestARequestSentWhileTheHandlerRunsIsNotLost(t *testing.T) {
	bodyRead := make(chan struct{}, 1)
	proceed := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(proceed) }) })
	ln := &recordingListener{Listener: listen(t)}
	oldGen := serve(t, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if string(body) == "one" {
			bodyRead <- struct{}{}
			<-proceed
		}
		w.Header().Set("Server-Name", "old")
		w.Write(body)
	}), drain.Options{IdleGrace: time.Millisecond, CloseWindow: -1})
	newGen := serve(t, listen(t), named("new"), drain.Options{})
	c := dialRaw(t, ln.Addr().String())
	sc := ln.only(t)

	if _, err := c.Write(request(t, "one")); err != nil {
		t.Fatal(err)
	}
	<-bodyRead
	second := request(t, "two")
	if _, err := c.Write(second); err != nil {
		t.Fatal(err)
	}
	// net/http's read in the background takes the first byte.
	waitFor(t, "net/http to read a byte ahead", func() bool { return inQueue(sc) == len(second)-1 })

	m := newFDMover(t, newGen.d.Adopt)
	oldGen.d.MoveIdle(m.move)
	done := oldGen.shutdownAsync(t, 10*time.Second)
	once.Do(func() { close(proceed) })
	for _, want := range []string{"one", "two"} {
		resp, got := c.read(t)
		expectFrom(t, "request "+want, resp, got, "old", want)
	}
	waitFor(t, "the connection to move once idle", func() bool { return m.moved.Load() == 1 })
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	resp, got := c.post(t, "three")
	expectFrom(t, "the request after the move", resp, got, "new", "three")
}
