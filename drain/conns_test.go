package drain_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd/drain"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln := listen(t)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return server, client
}

func TestConnsCloseUntracks(t *testing.T) {
	var cs drain.Conns
	a, _ := tcpPair(t)
	b, _ := tcpPair(t)
	ta, tb := cs.Track(a), cs.Track(b)
	if n := cs.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	if err := ta.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ta.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if n := cs.Len(); n != 1 {
		t.Fatalf("Len after Close = %d, want 1", n)
	}
	if err := tb.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Errorf("CloseWrite: %v", err)
	}
	if got := tb.(interface{ NetConn() net.Conn }).NetConn(); got != b {
		t.Errorf("NetConn returned %v, want the tracked conn", got)
	}
}

func TestConnsDrainWaits(t *testing.T) {
	var cs drain.Conns
	if err := cs.Drain(context.Background()); err != nil {
		t.Fatalf("Drain with nothing tracked: %v", err)
	}

	var tracked []net.Conn
	for range 3 {
		c, _ := tcpPair(t)
		tracked = append(tracked, cs.Track(c))
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- cs.Drain(ctx)
	}()
	late, _ := tcpPair(t)
	tracked = append(tracked, cs.Track(late)) // tracked during the drain
	for _, c := range tracked {
		select {
		case err := <-done:
			t.Fatalf("Drain returned %v with %d connections open", err, cs.Len())
		case <-time.After(10 * time.Millisecond):
		}
		c.Close()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Drain: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Drain did not return after every connection closed")
	}
}

func TestConnsDrainDeadline(t *testing.T) {
	var cs drain.Conns
	a, _ := tcpPair(t)
	b, _ := tcpPair(t)
	ta := cs.Track(a)
	cs.Track(b)
	readErr := make(chan error, 1)
	go func() {
		_, err := ta.Read(make([]byte, 1))
		readErr <- err
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := cs.Drain(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain returned %v, want %v", err, context.DeadlineExceeded)
	}
	if !strings.Contains(err.Error(), "closed 2 connections ") {
		t.Errorf("error %q does not say two connections were closed", err)
	}
	if n := cs.Len(); n != 0 {
		t.Errorf("Len after Drain = %d, want 0", n)
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked Read returned %v, want %v", err, net.ErrClosed)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked Read did not return after Drain closed the connection")
	}
}
