//go:build unix

package drain_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd/drain"
)

// moveWindow is how long the negative tests give a connection that must
// not move to move anyway.
const moveWindow = 50 * time.Millisecond

// Many idle connections, some between requests and some new without a
// first request, all move at once, each answers its next request from
// the new server, and the old server then drains at once.
func TestManyIdleConnectionsMoveAndAnswerFromTheNewServer(t *testing.T) {
	const warm, fresh = 60, 40
	ln := listen(t)
	oldGen := serve(t, ln, named("old"), drain.Options{IdleGrace: time.Minute})
	newGen := serve(t, listen(t), named("new"), drain.Options{})
	conns := idleConns(t, ln.Addr().String(), warm)
	for range fresh {
		conns = append(conns, dialRaw(t, ln.Addr().String()))
	}
	waitFor(t, "every connection to be accepted", func() bool { return oldGen.d.OpenConns() == warm+fresh })

	m := newFDMover(t, newGen.d.Adopt)
	oldGen.d.MoveIdle(m.move)
	waitFor(t, "every connection to move", func() bool { return m.moved.Load() == warm+fresh })
	waitFor(t, "the old server to let go of them", func() bool { return oldGen.d.OpenConns() == 0 })
	// Nothing is left to drain: no grace to wait for.
	oldGen.shutdown(t, 10*time.Second)

	for i, c := range conns {
		body := fmt.Sprintf("after the move %d", i)
		resp, got := c.post(t, body)
		expectFrom(t, fmt.Sprintf("connection %d", i), resp, got, "new", body)
		if resp.Close {
			t.Errorf("connection %d: the new server asks to close it", i)
		}
	}
	if n := newGen.d.OpenConns(); n != warm+fresh {
		t.Errorf("the new server holds %d connections, want %d", n, warm+fresh)
	}
}

// A connection whose move fails stays with the old server, untouched:
// its next request is answered there, and it drains as without moves.
// After a failed move, a busy connection is asked to close with its
// response again, rather than kept for a move that is likely to fail.
func TestAFailedMoveLeavesTheConnectionWithTheOldServer(t *testing.T) {
	slow, entered, release := blocking(t)
	ln := listen(t)
	oldGen := serve(t, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server-Name", "old")
		if r.URL.Query().Has("slow") {
			slow.ServeHTTP(w, r)
			return
		}
		echo.ServeHTTP(w, r)
	}), drain.Options{IdleGrace: time.Minute})
	c := idleConns(t, ln.Addr().String(), 1)[0]
	busy := dialRaw(t, ln.Addr().String())
	if _, err := busy.Write(bytes.Replace(request(t, "busy"), []byte("POST / "), []byte("POST /?slow "), 1)); err != nil {
		t.Fatal(err)
	}
	<-entered

	m := newFDMover(t, nil)
	m.setFail(errRefused)
	oldGen.d.MoveIdle(m.move)
	waitFor(t, "the move to be tried", func() bool { return m.calls.Load() == 1 })
	resp, got := c.post(t, "after the failed move")
	expectFrom(t, "the request after the failed move", resp, got, "old", "after the failed move")

	done := oldGen.shutdownAsync(t, 10*time.Second)
	resp, got = c.post(t, "while draining")
	expectFrom(t, "the request while draining", resp, got, "old", "while draining")
	if !resp.Close {
		t.Error("a connection that cannot move is not asked to close while the server drains")
	}
	c.expectClosed(t)
	release()
	resp, got = busy.read(t)
	expectFrom(t, "the busy connection's request", resp, got, "old", "busy")
	if !resp.Close {
		t.Error("after a failed move, a busy connection is not asked to close while the server drains")
	}
	busy.expectClosed(t)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := m.calls.Load(); n != 1 {
		t.Errorf("the move was tried %d times, want once", n)
	}
}

// HTTP/2 connections, h2c included, drain with GOAWAY as before: not one
// moves, and their requests are answered by the old server until then.
func TestHTTP2ConnectionsDoNotMove(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "h2c", true: "h2 over tls"}[useTLS]
		t.Run(name, func(t *testing.T) {
			cert, pool := selfSigned(t)
			ln := listen(t)
			d := newH2Server(t, ln, useTLS, cert, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Generation", "old")
				echo.ServeHTTP(w, r)
			})
			scheme := map[bool]string{false: "http", true: "https"}[useTLS]
			url := scheme + "://" + ln.Addr().String() + "/"
			load := startH2Load(t, 2, url, useTLS, pool)
			waitFor(t, "the HTTP/2 clients to be served", func() bool { return load.served("old") >= 10 })
			// Each client's connection has spoken HTTP/2 (a new one that
			// has not may move: it is not HTTP/2 yet).
			waitFor(t, "both connections to speak HTTP/2", func() bool { return countProto(d.Protocols(), 2) == 2 })

			m := newFDMover(t, nil)
			d.MoveIdle(m.move)
			from := load.served("old")
			waitFor(t, "more HTTP/2 requests", func() bool { return load.served("old") >= from+20 })
			load.stop()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := d.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if n := m.calls.Load(); n != 0 {
				t.Errorf("%d HTTP/2 connections were handed to the mover", n)
			}
			if n, errs := load.failures(); n > 0 {
				t.Errorf("%d HTTP/2 POSTs failed: %v", n, errs)
			}
		})
	}
}

// HTTP/1 over TLS never moves: the TLS state lives in this process.
func TestTLSConnectionsDoNotMove(t *testing.T) {
	cert, pool := selfSigned(t)
	ln := listen(t)
	tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	oldGen := serve(t, tln, named("old"), drain.Options{IdleGrace: time.Minute})
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}} // HTTP/1.1 only
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "https://" + ln.Addr().String() + "/"
	tlsPost := func(body string) *http.Response {
		t.Helper()
		resp, err := client.Do(noRetryPost(url, body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		expectFrom(t, body, resp, string(got), "old", body)
		return resp
	}
	tlsPost("before")

	m := newFDMover(t, nil)
	oldGen.d.MoveIdle(m.move)
	time.Sleep(moveWindow)
	done := oldGen.shutdownAsync(t, 10*time.Second)
	if resp := tlsPost("while draining"); !resp.Close {
		t.Error("a TLS connection is not asked to close while the server drains")
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := m.calls.Load(); n != 0 {
		t.Errorf("%d TLS connections were handed to the mover", n)
	}
}

// A server that drains already adopts nothing: the connection stays the
// caller's, who falls back to closing it.
func TestADrainingServerRefusesToAdopt(t *testing.T) {
	ln := listen(t)
	g := serve(t, ln, named("new"), drain.Options{})
	g.shutdown(t, 10*time.Second)
	c, peer := net.Pipe()
	defer c.Close()
	defer peer.Close()
	err := g.d.Adopt(c)
	if err == nil || !strings.Contains(err.Error(), "draining") {
		t.Fatalf("Adopt on a drained server returned %v, want an error that says it drains", err)
	}
	if n := g.d.OpenConns(); n != 0 {
		t.Errorf("the drained server holds %d connections", n)
	}
}

// serveWith starts a generation whose http.Server has the given timeouts.
func serveWith(t *testing.T, ln net.Listener, h http.Handler, readHeader, idle time.Duration) *generation {
	t.Helper()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeader, IdleTimeout: idle, ErrorLog: log.New(io.Discard, "", 0)}
	g := &generation{srv: srv, d: drain.New(srv, drain.Options{}), ln: ln, served: make(chan error, 1)}
	go func() { g.served <- g.d.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return g
}

// A moved connection was idle, and its client may reuse it any time
// before the server's IdleTimeout: the new server, which takes it for a
// new connection, must not close it after ReadHeaderTimeout; it closes
// it once idle for IdleTimeout, as net/http does its own.
func TestAnAdoptedConnectionWaitsForIdleTimeoutNotReadHeaderTimeout(t *testing.T) {
	const readHeader = 50 * time.Millisecond
	ln := listen(t)
	oldGen := serve(t, ln, named("old"), drain.Options{})
	patient := serveWith(t, listen(t), named("new"), readHeader, time.Minute)
	strict := serveWith(t, listen(t), named("new"), readHeader, 4*readHeader)
	conns := idleConns(t, ln.Addr().String(), 2)

	m := newFDMover(t, func(c net.Conn) error {
		if c.RemoteAddr().String() == conns[0].LocalAddr().String() {
			return patient.d.Adopt(c)
		}
		return strict.d.Adopt(c)
	})
	oldGen.d.MoveIdle(m.move)
	waitFor(t, "the connections to move", func() bool { return m.moved.Load() == 2 })

	time.Sleep(2 * readHeader)
	// The request comes in two parts: ReadHeaderTimeout counts from its
	// first byte, not from the adoption.
	req := request(t, "after waiting longer than ReadHeaderTimeout")
	if _, err := conns[0].Write(req[:10]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(readHeader / 5)
	if _, err := conns[0].Write(req[10:]); err != nil {
		t.Fatal(err)
	}
	resp, got := conns[0].read(t)
	expectFrom(t, "the request after the wait", resp, got, "new", "after waiting longer than ReadHeaderTimeout")
	// The other one, with an IdleTimeout of its own, closes once idle
	// that long, without an answer.
	conns[1].expectClosed(t)
}

// Connections accepted on a unix socket move too.
func TestUnixSocketConnectionsMove(t *testing.T) {
	path := t.TempDir() + "/http.sock"
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	oldGen := serve(t, ln, named("old"), drain.Options{})
	newGen := serve(t, listen(t), named("new"), drain.Options{})
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	c := &rawConn{Conn: nc, r: bufio.NewReader(nc)}
	resp, got := c.post(t, "before")
	expectFrom(t, "the request before the move", resp, got, "old", "before")

	m := newFDMover(t, newGen.d.Adopt)
	oldGen.d.MoveIdle(m.move)
	waitFor(t, "the connection to move", func() bool { return m.moved.Load() == 1 })
	oldGen.shutdown(t, 10*time.Second)
	resp, got = c.post(t, "after")
	expectFrom(t, "the request after the move", resp, got, "new", "after")
}
