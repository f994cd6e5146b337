package flipdtls

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd/modules/flipdtls/tlstest"
)

func TestACMEOnItsOwnPort(t *testing.T) {
	p := tlstest.StartPebble(t, tlstest.PebbleOptions{})
	// The listener is where the CA validates tls-alpn-01 (443 in real
	// life), and the only challenge: the first generation must answer
	// on its own socket before it serves.
	config := acmeConfig(p, `, "profile": "default", "disable_http_challenge": true`, "own.flipd.test")
	g := mustProvision(t, t.TempDir(), config, nil)
	addr := g.serveOn(t, fmt.Sprintf("127.0.0.1:%d", p.TLSPort))
	verified(t, p, addr, "own.flipd.test")
	if !strings.Contains(g.logs.String(), "served key authentication certificate") {
		t.Fatalf("the listener did not answer the challenge:\n%s", g.logs)
	}
}

func TestEarlyConnectionsAreServed(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, dir, "a", tlstest.LeafOptions{Names: []string{"a.test"}})
	g := mustProvision(t, t.TempDir(), filesConfig("", leaf), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	early := startEarlyAcceptor(ln, g.w.tlsCfg)
	answer := make(chan string, 1)
	go func() {
		body, _, err := request(ln.Addr().String(), &tls.Config{ServerName: "a.test", RootCAs: ca.Pool(), NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			body = err.Error()
		}
		answer <- body
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		early.mu.Lock()
		n := len(early.conns)
		early.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the early acceptor did not take the connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
	conns := early.stop()
	// The listener module starts serving: the held connection comes
	// first, and the socket still accepts.
	serveHTTP(t, &listener{Listener: tls.NewListener(ln, g.w.tlsCfg), raw: ln, early: conns})
	if got := <-answer; got != "hello HTTP/2.0" {
		t.Fatalf("the connection accepted early got %q", got)
	}
	if body, _, err := request(ln.Addr().String(), &tls.Config{ServerName: "a.test", RootCAs: ca.Pool(), NextProtos: []string{"h2", "http/1.1"}}); err != nil || body != "hello HTTP/2.0" {
		t.Fatalf("after the early phase: %q, %v", body, err)
	}
}
