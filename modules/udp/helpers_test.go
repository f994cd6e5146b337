package udp_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd/flipdtest"
	"github.com/flipd/flipd/modules/udp"
)

// waitLimit bounds every wait in these tests.
const waitLimit = 10 * time.Second

// load provisions the listener module described by raw, as the runtime
// does for a listener's config without its "address".
func load(t *testing.T, raw string) (*udp.Server, *flipdtest.Buffer, error) {
	t.Helper()
	logs := new(flipdtest.Buffer)
	logger := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})
	mod, err := flipdtest.Load(t, logger, "listeners", json.RawMessage(raw))
	if err != nil {
		return nil, logs, err
	}
	srv, ok := mod.(*udp.Server)
	if !ok {
		t.Fatalf("module is a %T, want *udp.Server", mod)
	}
	return srv, logs, nil
}

// serve loads raw and serves it on a new loopback socket; it returns the
// server, its socket, and its logs. The server is drained at the end.
func serve(t *testing.T, raw string) (*udp.Server, net.PacketConn, *flipdtest.Buffer) {
	t.Helper()
	srv, logs, err := load(t, raw)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := startServing(srv, pc)
	t.Cleanup(func() {
		// Sessions left open are closed: the tests that drain do so
		// themselves.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		srv.Drain(ctx)
		if err := <-served; err != nil {
			t.Errorf("ServePacket: %v", err)
		}
	})
	return srv, pc, logs
}

func startServing(srv *udp.Server, pc net.PacketConn) <-chan error {
	served := make(chan error, 1)
	go func() { served <- srv.ServePacket(pc) }()
	return served
}

// client is a UDP socket talking to one server address.
type client struct {
	t    *testing.T
	conn *net.UDPConn
}

func dial(t *testing.T, addr net.Addr) *client {
	t.Helper()
	c, err := net.DialUDP("udp", nil, addr.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c}
}

// send sends one datagram.
func (c *client) send(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// recv returns the next datagram, or "" after wait.
func (c *client) recv(wait time.Duration) string {
	s, _ := c.recvOK(wait)
	return s
}

// recvOK returns the next datagram and true, or false after wait.
func (c *client) recvOK(wait time.Duration) (string, bool) {
	buf := make([]byte, 2048)
	c.conn.SetReadDeadline(time.Now().Add(wait))
	n, err := c.conn.Read(buf)
	if err != nil {
		return "", false
	}
	return string(buf[:n]), true
}

// exchange sends s and returns the answer, retrying a few times: UDP on
// loopback does not lose datagrams, but a test should not hang on one.
func (c *client) exchange(s string) string {
	c.t.Helper()
	for i := 0; i < 3; i++ {
		c.send(s)
		if got := c.recv(waitLimit / 3); got != "" {
			return got
		}
	}
	c.t.Fatalf("no answer to %q", s)
	return ""
}

// upstream is a UDP server that answers "up:" + each datagram, after
// delay, from the address it read it from.
func upstream(t *testing.T, delay time.Duration) net.Addr {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			reply := append([]byte("up:"), buf[:n]...)
			time.AfterFunc(delay, func() { pc.WriteTo(reply, from) })
		}
	}()
	return pc.LocalAddr()
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
