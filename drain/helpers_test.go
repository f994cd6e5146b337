package drain_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd/drain"
	"github.com/flipd/flipd/flipdtest"
	"github.com/flipd/flipd/internal/poll"
)

// echo answers 200 with the request body.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Write(body)
})

// generation is one server generation: an http.Server and its drain.
type generation struct {
	srv    *http.Server
	d      *drain.Server
	ln     net.Listener
	served chan error // what Serve returned
}

// serve starts a generation serving h on ln.
func serve(t *testing.T, ln net.Listener, h http.Handler, opts drain.Options) *generation {
	t.Helper()
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	g := &generation{srv: srv, d: drain.New(srv, opts), ln: ln, served: make(chan error, 1)}
	go func() { g.served <- g.d.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return g
}

// shutdown drains g and checks that Serve, if g started it, returned
// ErrServerClosed.
func (g *generation) shutdown(t *testing.T, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := g.d.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if g.served == nil {
		return
	}
	select {
	case err := <-g.served:
		if !errors.Is(err, http.ErrServerClosed) {
			t.Fatalf("Serve returned %v, want %v", err, http.ErrServerClosed)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
}

// shutdownAsync starts Shutdown with a deadline and waits until it drains.
func (g *generation) shutdownAsync(t *testing.T, timeout time.Duration) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		done <- g.d.Shutdown(ctx)
	}()
	waitFor(t, "draining", g.d.Draining)
	return done
}

func listen(t *testing.T) *net.TCPListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener)
}

// dup returns a second listener on ln's socket, as a handover passes it
// to the next process.
func dup(t *testing.T, ln net.Listener) net.Listener {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("net.FileListener is not implemented on Windows")
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ln2, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln2.Close() })
	return ln2
}

// waitFor polls cond until it holds, for at most 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 5*time.Second, what, cond)
}

// rawConn is a client connection that writes requests by hand.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// post sends a keep-alive POST and reads the response.
func (c *rawConn) post(t *testing.T, body string) (*http.Response, string) {
	t.Helper()
	resp, got, err := c.tryPost(body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, got
}

// tryPost is post for goroutines other than the test's.
func (c *rawConn) tryPost(body string) (*http.Response, string, error) {
	req, err := c.send(body)
	if err != nil {
		return nil, "", err
	}
	return c.receive(req)
}

// send writes a keep-alive POST.
func (c *rawConn) send(body string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, "http://drain.test/", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	if err := req.Write(c); err != nil {
		return nil, fmt.Errorf("writing request: %w", err)
	}
	return req, nil
}

// receive reads the response to req.
func (c *rawConn) receive(req *http.Request) (*http.Response, string, error) {
	resp, err := http.ReadResponse(c.r, req)
	if err != nil {
		return nil, "", fmt.Errorf("reading response: %w", err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("reading response body: %w", err)
	}
	return resp, string(got), nil
}

// postResult is what postAsync's POST got.
type postResult struct {
	resp *http.Response
	body string
	err  error
}

// postAsync sends a keep-alive POST from another goroutine; its result
// arrives on the channel.
func (c *rawConn) postAsync(body string) <-chan postResult {
	got := make(chan postResult, 1)
	go func() {
		resp, b, err := c.tryPost(body)
		got <- postResult{resp, b, err}
	}()
	return got
}

// sentAsync writes a keep-alive POST, so that it is in the server's
// socket when it returns, and reads the response from another goroutine.
func (c *rawConn) sentAsync(t *testing.T, body string) <-chan postResult {
	t.Helper()
	req, err := c.send(body)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan postResult, 1)
	go func() {
		resp, b, err := c.receive(req)
		got <- postResult{resp, b, err}
	}()
	return got
}

// expectClosed checks that the server closes c without sending anything.
func (c *rawConn) expectClosed(t *testing.T) {
	t.Helper()
	n, err := c.r.Read(make([]byte, 1))
	if n != 0 || err == nil {
		t.Fatalf("read %d bytes, %v from a connection that should be closed", n, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open: %v", err)
	}
}

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) { return flipdtest.LoopbackCert(t) }
