package udp_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd/internal/poll"
)

func proxyConfig(up net.Addr, extra string) string {
	return fmt.Sprintf(`{"module": "udp", "handle": {"module": "proxy", "upstream": %q%s}}`, up.String(), extra)
}

func TestProxyRoutesRepliesToTheRightClient(t *testing.T) {
	srv, pc, _ := serve(t, proxyConfig(upstream(t, 0), ""))
	clients := []*client{dial(t, pc.LocalAddr()), dial(t, pc.LocalAddr()), dial(t, pc.LocalAddr())}
	// All send first, then all read: replies interleave at the proxy.
	for round := 0; round < 10; round++ {
		for i, c := range clients {
			c.send(fmt.Sprintf("c%d-%d", i, round))
		}
		for i, c := range clients {
			if got, want := c.recv(waitLimit), fmt.Sprintf("up:c%d-%d", i, round); got != want {
				t.Fatalf("client %d got %q, want %q", i, got, want)
			}
		}
	}
	if n := srv.OpenSessions(); n != 3 {
		t.Fatalf("OpenSessions = %d, want 3 (one per client)", n)
	}
}

func TestProxySessionsExpireAfterIdleTimeout(t *testing.T) {
	srv, pc, _ := serve(t, proxyConfig(upstream(t, 0), `, "idle_timeout": "200ms"`))
	c := dial(t, pc.LocalAddr())
	if got := c.exchange("hi"); got != "up:hi" {
		t.Fatalf("got %q", got)
	}
	if n := srv.OpenSessions(); n != 1 {
		t.Fatalf("OpenSessions = %d, want 1", n)
	}
	poll.Until(t, waitLimit, "the idle session to expire", func() bool { return srv.OpenSessions() == 0 })
	if got := c.exchange("again"); got != "up:again" {
		t.Fatalf("after expiry got %q, want a new session to answer", got)
	}
}

func TestProxyMaxSessionsDropsDatagramsOfNewClients(t *testing.T) {
	srv, pc, logs := serve(t, proxyConfig(upstream(t, 0), `, "max_sessions": 1`))
	a, b := dial(t, pc.LocalAddr()), dial(t, pc.LocalAddr())
	if got := a.exchange("a"); got != "up:a" {
		t.Fatalf("first client got %q", got)
	}
	b.send("b")
	if got, ok := b.recvOK(300 * time.Millisecond); ok {
		t.Fatalf("a second client got %q beyond max_sessions 1", got)
	}
	if n := srv.OpenSessions(); n != 1 {
		t.Fatalf("OpenSessions = %d, want 1", n)
	}
	poll.Until(t, waitLimit, "the warning", func() bool { return contains(logs.String(), "max_sessions reached") })
}

// The handover, within one process: the old server drains while a new
// one reads a second descriptor of the same socket, as the next
// generation does.
func TestDrainStopsReadingAndCarriesLateRepliesBack(t *testing.T) {
	up := upstream(t, 500*time.Millisecond)
	old, _, err := load(t, proxyConfig(up, `, "idle_timeout": "1s"`))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	oldServed := startServing(old, pc)
	c := dial(t, pc.LocalAddr())
	c.send("slow")
	poll.Until(t, waitLimit, "the session to open", func() bool { return old.OpenSessions() == 1 })

	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		drained <- old.Drain(ctx)
	}()
	if err := <-oldServed; err != nil {
		t.Fatalf("the old ServePacket: %v", err)
	}
	f, err := pc.(*net.UDPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	pc2, err := net.FilePacketConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	next, _, err := load(t, `{"module": "udp", "handle": {"module": "echo"}}`)
	if err != nil {
		t.Fatal(err)
	}
	nextServed := startServing(next, pc2)
	defer func() {
		next.Drain(context.Background())
		<-nextServed
	}()

	if got := c.recv(waitLimit); got != "up:slow" {
		t.Fatalf("the reply of the draining session: %q, want %q", got, "up:slow")
	}
	if got := c.exchange("new"); got != "new" {
		t.Fatalf("a datagram after the handover got %q, want the new server's echo", got)
	}
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if n := old.OpenSessions(); n != 0 {
		t.Fatalf("the drained proxy still has %d sessions", n)
	}
}

func TestDrainDeadlineClosesSessionsAndSaysHowMany(t *testing.T) {
	srv, pc, _ := serve(t, proxyConfig(upstream(t, 0), `, "idle_timeout": "1m"`))
	c := dial(t, pc.LocalAddr())
	c.exchange("x")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := srv.Drain(ctx)
	if err == nil || !strings.Contains(err.Error(), "closed 1 udp proxy sessions") {
		t.Fatalf("Drain = %v, want it to say it closed 1 session", err)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{`{"module": "udp"}`, `"handle": missing`},
		{`{"module": "udp", "handle": {"module": "nope"}}`, `unknown module "nope" in udp.handlers`},
		{`{"module": "udp", "handle": {"module": "proxy"}}`, `"upstream" is missing`},
		{`{"module": "udp", "handle": {"module": "proxy", "upstream": "nohost"}}`, `want "host:port"`},
		{`{"module": "udp", "handle": {"module": "proxy", "upstream": "127.0.0.1:53", "idle_timeout": "-1s"}}`, `idle_timeout`},
		{`{"module": "udp", "handle": {"module": "proxy", "upstream": "127.0.0.1:53", "max_sessions": -1}}`, `"max_sessions" is -1`},
		{`{"module": "udp", "handle": {"module": "echo", "x": 1}}`, `unknown field "x"`},
		{`{"module": "udp", "handle": {"module": "echo"}, "max_conns": 3}`, `unknown field "max_conns"`},
	} {
		_, _, err := load(t, tc.raw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.raw, err, tc.want)
		}
	}
}
