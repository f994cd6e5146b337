package flipd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitLimit bounds every wait in these tests, so a bug fails a test
// instead of hanging it.
const waitLimit = 10 * time.Second

// connFunc is a ConnHandler made of a function.
type connFunc func(ctx context.Context, c net.Conn) error

func (f connFunc) ServeConn(ctx context.Context, c net.Conn) error { return f(ctx, c) }

// scriptedListener answers Accept from a script of errors before (and
// instead of) accepting on the listener under it, and counts the calls.
type scriptedListener struct {
	net.Listener
	mu       sync.Mutex
	script   []error // returned by the first Accepts, in order
	accepts  int
	onAccept func(n int) // called at the start of the nth Accept
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.accepts++
	n, hook := l.accepts, l.onAccept
	var err error
	if len(l.script) > 0 {
		err, l.script = l.script[0], l.script[1:]
	}
	l.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	if err != nil {
		return nil, err
	}
	return l.Listener.Accept()
}

func (l *scriptedListener) calls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accepts
}

type temporaryError struct{}

func (temporaryError) Error() string   { return "accept: too many open files" }
func (temporaryError) Timeout() bool   { return false }
func (temporaryError) Temporary() bool { return true }

func loopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func dialLoopback(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitLimit))
	return c
}

func serveInBackground(s *ConnServer, ln net.Listener) <-chan error {
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	return served
}

func receive[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
	}
	panic("unreachable")
}

// The connection is tracked by the loop, before Serve accepts again, not
// by its goroutine (which may not have run yet when a drain begins).
func TestConnServerTracksEachConnectionBeforeAcceptingTheNext(t *testing.T) {
	release := make(chan struct{})
	s := &ConnServer{Handler: connFunc(func(ctx context.Context, c net.Conn) error {
		<-release
		return nil
	})}
	defer close(release)
	inner := loopback(t)
	open := make(chan int, 1)
	ln := &scriptedListener{Listener: inner, onAccept: func(n int) {
		if n == 2 {
			open <- s.OpenConns()
		}
	}}
	served := serveInBackground(s, ln)
	dialLoopback(t, inner.Addr().String())
	if n := receive(t, "the second Accept", open); n != 1 {
		t.Fatalf("when Serve accepts again, %d connections are tracked; want 1", n)
	}
	release <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := receive(t, "Serve", served); err != nil {
		t.Fatalf("Serve after Drain: %v", err)
	}
}

// A drain stops accepting at once, and waits for the connection being
// served before it returns.
func TestConnServerDrainWaitsForAConnectionInProgress(t *testing.T) {
	inHandler, finish := make(chan struct{}), make(chan struct{})
	s := &ConnServer{Handler: connFunc(func(ctx context.Context, c net.Conn) error {
		close(inHandler)
		<-finish
		_, err := io.WriteString(c, "done\n")
		return err
	})}
	ln := loopback(t)
	served := serveInBackground(s, ln)
	c := dialLoopback(t, ln.Addr().String())
	receive(t, "the handler", inHandler)

	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		drained <- s.Drain(ctx)
	}()
	if err := receive(t, "Serve to return once the drain begins", served); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v while a connection was being served", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(finish)
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "done\n" {
		t.Fatalf("the connection in progress got %q, %v", line, err)
	}
	if err := receive(t, "Drain", drained); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if n := s.OpenConns(); n != 0 {
		t.Fatalf("OpenConns after the drain: %d", n)
	}
}

// At the drain's deadline the connections left are closed, their
// handlers' contexts end, and the error counts them.
func TestConnServerDrainDeadlineClosesWhatIsLeft(t *testing.T) {
	ended := make(chan struct{})
	s := &ConnServer{Handler: connFunc(func(ctx context.Context, c net.Conn) error {
		<-ctx.Done()
		close(ended)
		return ctx.Err()
	})}
	ln := loopback(t)
	served := serveInBackground(s, ln)
	dialLoopback(t, ln.Addr().String())
	for deadline := time.Now().Add(waitLimit); s.OpenConns() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection was never tracked")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := s.Drain(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "closed 1 connection") {
		t.Fatalf("Drain: %v; want an error counting 1 connection and wrapping the deadline", err)
	}
	receive(t, "the handler's context to end", ended)
	receive(t, "Serve", served)
}

// A permanent accept error ends Serve with that error, after one Accept:
// it is never retried.
func TestConnServerPermanentAcceptErrorEndsServeOnce(t *testing.T) {
	s := &ConnServer{Handler: connFunc(func(context.Context, net.Conn) error { return nil })}
	ln := loopback(t)
	ln.Close() // not by Drain
	sl := &scriptedListener{Listener: ln}
	err := receive(t, "Serve", serveInBackground(s, sl))
	if !errors.Is(err, net.ErrClosed) || !strings.Contains(err.Error(), "accepting on "+ln.Addr().String()) {
		t.Fatalf("Serve returned %v; want an error naming the address and wrapping net.ErrClosed", err)
	}
	if n := sl.calls(); n != 1 {
		t.Fatalf("Accept was called %d times; want 1", n)
	}
	if err := s.Drain(context.Background()); err != nil {
		t.Fatalf("Drain after Serve failed: %v", err)
	}
}

// Temporary accept errors (EMFILE) are retried after a pause that
// doubles, up to a second, and starts over once an Accept succeeds.
func TestConnServerTemporaryAcceptErrorsBackOff(t *testing.T) {
	var served atomic.Int32
	s := &ConnServer{Handler: connFunc(func(context.Context, net.Conn) error { served.Add(1); return nil })}
	var mu sync.Mutex
	var pauses []time.Duration
	s.sleep = func(d time.Duration) bool {
		mu.Lock()
		defer mu.Unlock()
		pauses = append(pauses, d)
		return true
	}
	inner := loopback(t)
	temp := temporaryError{}
	script := make([]error, 0, 12)
	for range 10 {
		script = append(script, temp)
	}
	ln := &scriptedListener{Listener: inner, script: script}
	done := serveInBackground(s, ln)
	c := dialLoopback(t, inner.Addr().String())
	c.Close()
	for deadline := time.Now().Add(waitLimit); served.Load() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection after the errors was not served")
		}
	}
	// After a success, the pause starts over.
	ln.mu.Lock()
	ln.script = []error{temp, temp}
	ln.mu.Unlock()
	c = dialLoopback(t, inner.Addr().String())
	c.Close()
	for deadline := time.Now().Add(waitLimit); served.Load() != 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection after the second errors was not served")
		}
	}
	if err := s.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := receive(t, "Serve", done); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	ms := time.Millisecond
	want := []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second, 5 * ms, 10 * ms}
	mu.Lock()
	defer mu.Unlock()
	if len(pauses) != len(want) {
		t.Fatalf("pauses %v; want %v", pauses, want)
	}
	for i := range want {
		if pauses[i] != want[i] {
			t.Fatalf("pauses %v; want %v", pauses, want)
		}
	}
}

// A panic in a handler is recovered: the connection is closed, and the
// loop serves on.
func TestConnServerRecoversAHandlerPanic(t *testing.T) {
	s := &ConnServer{Handler: connFunc(func(ctx context.Context, c net.Conn) error {
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			return err
		}
		panic("boom")
	})}
	ln := loopback(t)
	served := serveInBackground(s, ln)
	for range 2 {
		c := dialLoopback(t, ln.Addr().String())
		io.WriteString(c, "hi\n")
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("the panicking handler's connection was not closed: %v", err)
		}
	}
	if err := s.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	receive(t, "Serve", served)
}

// Serve after Drain does not serve: it closes its listener at once.
func TestConnServerServeAfterDrainClosesTheListener(t *testing.T) {
	s := &ConnServer{Handler: connFunc(func(context.Context, net.Conn) error { return nil })}
	if err := s.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln := loopback(t)
	if err := s.Serve(ln); err != nil {
		t.Fatalf("Serve after Drain: %v", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the listener is still open: Accept returned %v", err)
	}
}
