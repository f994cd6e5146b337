package drain_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flipd/flipd/drain"
)

// blocking returns a handler that signals entered and waits for release,
// which the end of the test calls at the latest.
func blocking(t *testing.T) (h http.Handler, entered <-chan struct{}, release func()) {
	in := make(chan struct{}, 1)
	out := make(chan struct{})
	release = sync.OnceFunc(func() { close(out) })
	t.Cleanup(release)
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in <- struct{}{}
		<-out
		echo.ServeHTTP(w, r)
	})
	return h, in, release
}

func TestNewConnectionIsAnswered(t *testing.T) {
	ln := listen(t)
	g := serve(t, ln, echo, drain.Options{IdleGrace: 5 * time.Second})
	c := dialRaw(t, ln.Addr().String())
	waitFor(t, "the connection to be tracked", func() bool { return g.d.OpenConns() == 1 })

	done := g.shutdownAsync(t, 10*time.Second)
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v before the new connection sent its request", err)
	default:
	}

	resp, body := c.post(t, "hello")
	if resp.StatusCode != http.StatusOK || body != "hello" {
		t.Fatalf("got %s %q, want 200 %q", resp.Status, body, "hello")
	}
	if !resp.Close {
		t.Error("response lacks Connection: close")
	}
	c.expectClosed(t)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestSilentIdleConnectionIsClosed(t *testing.T) {
	const grace = 200 * time.Millisecond
	ln := listen(t)
	g := serve(t, ln, echo, drain.Options{IdleGrace: grace})
	c := dialRaw(t, ln.Addr().String())
	resp, _ := c.post(t, "hello")
	if resp.Close {
		t.Fatal("response before the drain has Connection: close")
	}
	idleSince := time.Now()

	done := g.shutdownAsync(t, 10*time.Second)
	c.expectClosed(t)
	// The server's idle clock starts a hair before the client's.
	if idle := time.Since(idleSince); idle < grace*3/4 {
		t.Errorf("closed after %v idle, before the %v grace", idle, grace)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Shutdown did not return after the idle connection closed")
	}
}

func TestInFlightRequestCompletes(t *testing.T) {
	ln := listen(t)
	h, entered, release := blocking(t)
	g := serve(t, ln, h, drain.Options{IdleGrace: 50 * time.Millisecond})
	c := dialRaw(t, ln.Addr().String())

	got := c.postAsync("in flight")
	<-entered
	done := g.shutdownAsync(t, 10*time.Second)
	time.Sleep(100 * time.Millisecond) // twice the grace: an active conn is not silent
	release()

	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.resp.StatusCode != http.StatusOK || r.body != "in flight" {
		t.Fatalf("got %s %q, want 200 %q", r.resp.Status, r.body, "in flight")
	}
	if !r.resp.Close {
		t.Error("response lacks Connection: close")
	}
	c.expectClosed(t)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestDeadlineClosesConnections(t *testing.T) {
	ln := listen(t)
	h, entered, _ := blocking(t)
	g := serve(t, ln, h, drain.Options{})
	c := dialRaw(t, ln.Addr().String())
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: drain.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-entered

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := g.d.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown returned %v, want %v", err, context.DeadlineExceeded)
	}
	if !strings.Contains(err.Error(), "closed 1 connection ") {
		t.Errorf("error %q does not say one connection was closed", err)
	}
	c.expectClosed(t)
}

func TestHTTP2InFlightRequestCompletes(t *testing.T) {
	cert, pool := selfSigned(t)
	ln := listen(t)
	h, entered, release := blocking(t)
	srv := &http.Server{
		Handler:   h,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
	}
	d := drain.New(srv, drain.Options{IdleGrace: 50 * time.Millisecond})
	served := make(chan error, 1)
	go func() { served <- d.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { srv.Close() })

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	type result struct {
		resp *http.Response
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := client.Post("https://"+ln.Addr().String()+"/", "text/plain", strings.NewReader("h2"))
		if err != nil {
			got <- result{err: err}
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{resp, string(body), err}
	}()
	<-entered

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- d.Shutdown(ctx)
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	release()

	r := <-got
	if r.err != nil {
		t.Fatalf("request failed: %v", r.err)
	}
	if r.resp.ProtoMajor != 2 {
		t.Fatalf("request used %s, want HTTP/2", r.resp.Proto)
	}
	if r.resp.StatusCode != http.StatusOK || r.body != "h2" {
		t.Fatalf("got %s %q, want 200 %q", r.resp.Status, r.body, "h2")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the request completed")
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("ServeTLS returned %v, want %v", err, http.ErrServerClosed)
	}
}

func TestServeAfterShutdown(t *testing.T) {
	g := serve(t, listen(t), echo, drain.Options{})
	g.shutdown(t, 5*time.Second)
	if err := g.d.Serve(listen(t)); !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve after Shutdown returned %v, want %v", err, http.ErrServerClosed)
	}
}

// A new TLS connection whose handshake is slow (a busy machine, a slow
// client) is not cut at IdleGrace: its request comes once the handshake is
// over, and must be answered.
func TestSlowTLSHandshakeIsNotCut(t *testing.T) {
	cert, pool := selfSigned(t)
	ln := listen(t)
	srv := &http.Server{
		Handler:           echo,
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
	}
	d := drain.New(srv, drain.Options{IdleGrace: 100 * time.Millisecond})
	go d.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })

	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	waitFor(t, "the connection to be tracked", func() bool { return d.OpenConns() == 1 })
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- d.Shutdown(ctx)
	}()
	time.Sleep(400 * time.Millisecond) // well past IdleGrace, handshake not begun

	c := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req, _ := http.NewRequest("POST", "https://localhost/", strings.NewReader("late"))
	if err := c.Handshake(); err != nil {
		t.Fatalf("handshake after the grace: %v", err)
	}
	if err := req.Write(c); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "late" || !resp.Close {
		t.Fatalf("got %s %q close=%v", resp.Status, body, resp.Close)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// A drain cut short (a second Ctrl-C) when no connection is open closed
// nothing: that is no error, as for [drain.Conns], so that flipd exits 0.
func TestShutdownCutShortWithNoConnectionIsNoError(t *testing.T) {
	g := serve(t, listen(t), echo, drain.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.d.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with an ended context and no connection: %v, want nil", err)
	}
}
