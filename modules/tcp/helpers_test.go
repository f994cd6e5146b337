package tcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd/flipdtest"
	"github.com/flipd/flipd/internal/poll"
	"github.com/flipd/flipd/modules/tcp"
)

// waitLimit bounds every wait in these tests, so a bug fails a test
// instead of hanging it.
const waitLimit = 10 * time.Second

// logBuffer collects a test's logs.
type logBuffer = flipdtest.Buffer

// load provisions the listener module described by raw, as the runtime
// does for a listener's config without its "address".
func load(t *testing.T, raw string) (*tcp.Server, *logBuffer, error) {
	t.Helper()
	logs := new(logBuffer)
	logger := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})
	mod, err := flipdtest.Load(t, logger, "listeners", json.RawMessage(raw))
	if err != nil {
		return nil, logs, err
	}
	srv, ok := mod.(*tcp.Server)
	if !ok {
		t.Fatalf("module is a %T, want *tcp.Server", mod)
	}
	return srv, logs, nil
}

// server is a tcp listener module serving on 127.0.0.1.
type server struct {
	*tcp.Server
	addr   string
	logs   *logBuffer
	served chan error
}

// start provisions raw and serves it on a fresh port. At the end of the
// test it drains the server and checks that Serve returned nil.
func start(t *testing.T, raw string) *server {
	t.Helper()
	srv, logs, err := load(t, raw)
	if err != nil {
		t.Fatalf("loading %s: %v", raw, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{Server: srv, addr: ln.Addr().String(), logs: logs, served: make(chan error, 1)}
	go func() { s.served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		srv.Drain(ctx)
		s.waitServe(t)
	})
	return s
}

// waitServe checks that Serve returns nil, once.
func (s *server) waitServe(t *testing.T) {
	t.Helper()
	select {
	case err, ok := <-s.served:
		if ok && err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
		if ok {
			close(s.served)
		}
	case <-time.After(waitLimit):
		t.Errorf("Serve did not return after Drain")
	}
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitLimit))
	return c.(*net.TCPConn)
}

// roundTrip writes msg and reads as many bytes back.
func roundTrip(c net.Conn, msg string) (string, error) {
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}

// expectClosed checks that the server closes c: a read ends with EOF or
// a reset, not a timeout.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	if err := waitClosed(c); err != nil {
		t.Fatal(err)
	}
}

func waitClosed(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(waitLimit))
	_, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("connection still open after %v", waitLimit)
	}
	return nil
}

// expectSilent checks that nothing arrives on c for a while.
func expectSilent(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read %d bytes, %v: want silence", n, err)
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
}

// eventually polls cond until it holds or waitLimit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, waitLimit, what, cond)
}

// upstream runs handle on every connection accepted on a fresh
// 127.0.0.1 port, and returns the address.
func upstream(t *testing.T, handle func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(waitLimit))
				handle(c.(*net.TCPConn))
			}()
		}
	}()
	return ln.Addr().String()
}

// deadAddr returns a 127.0.0.1 address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func contains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not mention %q:\n%s", what, sub, s)
		}
	}
}
