package flipd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// lineHandler answers each line with name and the line. It moves between
// lines: asked to, it wakes its Read and returns Move with the bytes its
// reader had buffered.
type lineHandler struct{ name string }

func (h *lineHandler) ServeConn(ctx context.Context, c net.Conn) error {
	return h.serve(ctx, c, nil)
}

func (h *lineHandler) HandoverKey() string { return "line/1" }

func (h *lineHandler) ResumeConn(ctx context.Context, mc MovedConn) error {
	mc.Conns[0].SetReadDeadline(time.Time{})
	return h.serve(ctx, mc.Conns[0], mc.State)
}

func (h *lineHandler) serve(ctx context.Context, c net.Conn, state []byte) error {
	go func() {
		select {
		case <-Moving(ctx):
			c.SetReadDeadline(time.Now())
		case <-ctx.Done():
		}
	}()
	r := bufio.NewReader(strings.NewReader(string(state)))
	lines := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			line, err = lines.ReadString('\n')
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && line == "" {
			buffered, _ := lines.Peek(lines.Buffered())
			return Move(buffered)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(c, "%s %s", h.name, line)
	}
}

// sinkTo moves connections to another ConnServer in the same process,
// as a move between processes does: the receiver gets a new descriptor
// of the same socket, and the one moved is closed.
type sinkTo struct {
	to   *ConnServer
	fail error
}

func (s sinkTo) Move(mc MovedConn) error {
	if s.fail != nil {
		return s.fail
	}
	f, err := mc.Conns[0].(*net.TCPConn).File()
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return err
	}
	if err := s.to.AdoptConn(MovedConn{Conns: []net.Conn{c}, State: mc.State}); err != nil {
		c.Close()
		return err
	}
	mc.Conns[0].Close()
	return nil
}

func TestConnServerMovesAConnectionToAnotherServerAndDrainsAtOnce(t *testing.T) {
	old := &ConnServer{Handler: &lineHandler{"old"}}
	next := &ConnServer{Handler: &lineHandler{"next"}}
	ln := loopback(t)
	served := serveInBackground(old, ln)
	go next.Serve(loopback(t))
	c := dialLoopback(t, ln.Addr().String())
	r := bufio.NewReader(c)
	ask := func(s string) string {
		t.Helper()
		fmt.Fprintln(c, s)
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(line)
	}
	if got := ask("a"); got != "old a" {
		t.Fatalf("got %q", got)
	}
	if old.HandoverKey() != "line/1" {
		t.Fatalf("HandoverKey is %q", old.HandoverKey())
	}
	old.MoveConns(sinkTo{to: next})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := old.Drain(ctx); err != nil { // nothing left to wait for
		t.Fatal(err)
	}
	receive(t, "Serve's return", served)
	if got := ask("b"); got != "next b" {
		t.Fatalf("after the move, got %q", got)
	}
	if n := next.OpenConns(); n != 1 {
		t.Fatalf("the new server counts %d connections", n)
	}
	next.Drain(ctx)
}

func TestConnServerResumesAConnectionWhoseMoveFailed(t *testing.T) {
	old := &ConnServer{Handler: &lineHandler{"old"}}
	ln := loopback(t)
	serveInBackground(old, ln)
	c := dialLoopback(t, ln.Addr().String())
	r := bufio.NewReader(c)
	fmt.Fprintln(c, "a")
	if line, _ := r.ReadString('\n'); line != "old a\n" {
		t.Fatalf("got %q", line)
	}
	old.MoveConns(sinkTo{fail: errors.New("not adopted")})
	// Give the handler time to stop and resume; then it answers here.
	time.Sleep(50 * time.Millisecond)
	fmt.Fprintln(c, "b")
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if line, err := r.ReadString('\n'); line != "old b\n" {
		t.Fatalf("after a failed move, got %q, %v", line, err)
	}
	if n := old.OpenConns(); n != 1 {
		t.Fatalf("the server counts %d connections", n)
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := old.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestConnServerOfAHandlerThatCannotMoveHasNoHandoverKey(t *testing.T) {
	s := &ConnServer{Handler: connFunc(func(context.Context, net.Conn) error { return nil })}
	if k := s.HandoverKey(); k != "" {
		t.Fatalf("HandoverKey is %q", k)
	}
	if err := s.AdoptConn(MovedConn{}); err == nil {
		t.Fatal("it adopts")
	}
}
