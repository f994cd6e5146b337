package tcp_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestDrainWaitsForOpenConnection(t *testing.T) {
	s := start(t, `{"module": "tcp", "handle": {"module": "echo"}}`)
	c := dial(t, s.addr)
	if got, err := roundTrip(c, "before"); err != nil || got != "before" {
		t.Fatalf("got %q, %v", got, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- s.Drain(ctx) }()

	s.waitServe(t)
	if c2, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
		c2.Close()
		t.Error("the listener still accepts during the drain")
	}
	for _, msg := range []string{"during", "the", "drain"} {
		if got, err := roundTrip(c, msg); err != nil || got != msg {
			t.Fatalf("open connection during the drain: got %q, %v", got, err)
		}
	}
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v while a connection was open", err)
	case <-time.After(100 * time.Millisecond):
	}

	c.Close()
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("Drain returned %v, want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Drain did not return after the client closed")
	}
	if n := s.OpenConns(); n != 0 {
		t.Errorf("OpenConns = %d after the drain", n)
	}
}

func TestDrainDeadlineClosesLingeringConnections(t *testing.T) {
	up := upstream(t, func(c *net.TCPConn) { io.Copy(c, c) })
	tests := []struct {
		name, config string
	}{
		{"echo", `{"module": "tcp", "handle": {"module": "echo"}}`},
		{"proxy", `{"module": "tcp", "handle": {"module": "proxy", "upstream": "` + up + `"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, tt.config)
			c := dial(t, s.addr)
			if got, err := roundTrip(c, "hi"); err != nil || got != "hi" {
				t.Fatalf("got %q, %v", got, err)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			err := s.Drain(ctx)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 connection") {
				t.Fatalf("Drain returned %v, want an error counting 1 connection and wrapping the deadline", err)
			}
			expectClosed(t, c)
			s.waitServe(t)
		})
	}
}

func TestDrainTellsDrainers(t *testing.T) {
	s := start(t, `{"module": "tcp", "handle": {"module": "test_goodbye"}}`)
	c := dial(t, s.addr)
	io.WriteString(c, "one\n")
	if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != "ok\n" {
		t.Fatalf("got %q, %v", got, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- s.Drain(ctx) }()
	s.waitServe(t)
	select {
	case <-goodbyeDrained:
	case <-time.After(waitLimit):
		t.Fatal("the handler's Drain was not called")
	}

	// The handler answers the exchange under way, then says goodbye.
	if _, err := io.WriteString(c, "two\n"); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(c)
	if err != nil || string(rest) != "ok\nbye\n" {
		t.Fatalf("read %q, %v; want the answer, a goodbye and EOF", rest, err)
	}
	if err := <-drained; err != nil {
		t.Fatalf("Drain returned %v, want nil", err)
	}
}
