package tcp_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flipd/flipd"
)

func TestMaxConns(t *testing.T) {
	s := start(t, `{"module": "tcp", "max_conns": 2, "handle": {"module": "echo"}}`)
	first, second := dial(t, s.addr), dial(t, s.addr)
	for _, c := range []net.Conn{first, second} {
		if got, err := roundTrip(c, "hi"); err != nil || got != "hi" {
			t.Fatalf("got %q, %v", got, err)
		}
	}

	// The kernel completes the third handshake, but the server does not
	// accept it while two connections are open.
	third := dial(t, s.addr)
	if _, err := third.Write([]byte("third")); err != nil {
		t.Fatal(err)
	}
	expectSilent(t, third, 300*time.Millisecond)
	if n := s.OpenConns(); n != 2 {
		t.Errorf("OpenConns = %d, want 2", n)
	}

	first.Close()
	buf := make([]byte, len("third"))
	if _, err := third.Read(buf); err != nil || string(buf) != "third" {
		t.Fatalf("third client, after a slot freed: got %q, %v", buf, err)
	}
}

func TestIdleTimeout(t *testing.T) {
	s := start(t, `{"module": "tcp", "idle_timeout": "400ms", "handle": {"module": "echo"}}`)
	idle, busy := dial(t, s.addr), dial(t, s.addr)
	for _, c := range []net.Conn{idle, busy} {
		if got, err := roundTrip(c, "hi"); err != nil || got != "hi" {
			t.Fatalf("got %q, %v", got, err)
		}
	}

	// busy keeps talking for well over the timeout and is left alone;
	// idle says nothing and is closed.
	closed := make(chan error, 1)
	go func() { closed <- waitClosed(idle) }()
	for range 16 {
		time.Sleep(50 * time.Millisecond)
		if got, err := roundTrip(busy, "x"); err != nil || got != "x" {
			t.Fatalf("busy client: got %q, %v", got, err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatalf("idle client: %v", err)
	}
	contains(t, "log", s.logs.String(), "closing idle connection")
}

// flakyListener fails its first Accepts with a temporary error, as
// accept(2) does with EMFILE when the process is out of descriptors.
type flakyListener struct {
	net.Listener
	failures atomic.Int32
}

type tempError struct{}

func (tempError) Error() string   { return "accept: too many open files" }
func (tempError) Timeout() bool   { return false }
func (tempError) Temporary() bool { return true }

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures.Add(-1) >= 0 {
		return nil, tempError{}
	}
	return l.Listener.Accept()
}

func TestAcceptRetriesTemporaryErrors(t *testing.T) {
	srv, logs, err := load(t, `{"module": "tcp", "handle": {"module": "echo"}}`)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &flakyListener{Listener: inner}
	ln.failures.Store(3)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	c := dial(t, inner.Addr().String())
	if got, err := roundTrip(c, "hi"); err != nil || got != "hi" {
		t.Fatalf("got %q, %v", got, err)
	}
	contains(t, "log", logs.String(), "accept failed; retrying", "too many open files")
	c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := srv.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v, want nil", err)
	}
}

func TestServeReturnsOtherAcceptErrors(t *testing.T) {
	srv, _, err := load(t, `{"module": "tcp", "handle": {"module": "echo"}}`)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // not by Drain: Serve must not mistake this for a drain
	if err := srv.Serve(ln); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve returned %v, want net.ErrClosed", err)
	}
}

func TestServeAfterDrain(t *testing.T) {
	srv, _, err := load(t, `{"module": "tcp", "handle": {"module": "echo"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln); err != nil {
		t.Fatalf("Serve after Drain returned %v, want nil", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve after Drain left its listener open: Accept returned %v", err)
	}
}

func TestHandlerPanicIsRecovered(t *testing.T) {
	s := start(t, `{"module": "tcp", "handle": {"module": "test_panic"}}`)
	expectClosed(t, dial(t, s.addr))
	eventually(t, "the panic to be logged", func() bool {
		return s.OpenConns() == 0 && strings.Contains(s.logs.String(), "handler panicked")
	})
}

func TestModuleRegistered(t *testing.T) {
	want := map[flipd.ModuleID]bool{"listeners.tcp": true, "tcp.handlers.echo": true, "tcp.handlers.proxy": true}
	for _, id := range flipd.Modules() {
		delete(want, id)
	}
	if len(want) > 0 {
		t.Errorf("not registered: %v", want)
	}
}
