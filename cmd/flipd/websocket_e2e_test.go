//go:build linux

package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/flipd/flipd/modules/flipdtls/tlstest"
)

// startWSEcho starts a WebSocket echo server; closes receives the code
// each of its connections ended with (0: none).
func startWSEcho(t *testing.T) (addr string, closes <-chan int) {
	t.Helper()
	addr, closes, _ = startCountingWSEcho(t)
	return addr, closes
}

// startCountingWSEcho is startWSEcho that also counts the WebSockets it
// accepted.
func startCountingWSEcho(t *testing.T) (addr string, closes <-chan int, accepted *atomic.Int64) {
	t.Helper()
	codes := make(chan int, 8)
	accepted = new(atomic.Int64)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		accepted.Add(1)
		defer c.Close()
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				code := 0
				if errors.As(err, &ce) {
					code = ce.Code
				}
				codes <- code
				return
			}
			if c.WriteMessage(typ, msg) != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), codes, accepted
}

// wsProxyConfig proxies web to upstream, over TLS when wrapper is not "".
func wsProxyConfig(web, upstream, wrapper, drainTimeout, tag string) string {
	wrappers := ""
	if wrapper != "" {
		wrappers = `"wrappers": [` + wrapper + `],`
	}
	return fmt.Sprintf(`{"admin": {"disabled": true}, "upgrade": {"drain_timeout": %q}, "listeners": {
		"web": {"address": "tcp/%s", "module": "http", %s "routes": [
			{"match": {"path": "/tag"}, "handle": {"module": "static_response", "body": %q}},
			{"handle": {"module": "reverse_proxy", "upstreams": [%q]}}]}}}`, drainTimeout, web, wrappers, tag, upstream)
}

// wsEcho sends msg and wants it back.
func wsEcho(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("sending %q: %v", msg, err)
	}
	if _, got, err := c.ReadMessage(); err != nil || string(got) != msg {
		t.Fatalf("echo of %q: %q, %v", msg, got, err)
	}
}

// A WebSocket proxied over TLS stays in the generation that accepted it
// (TLS terminated in flipd never moves): it must outlive the reload while
// drain_timeout lasts, and then end with Close 1001 on both sides.
func TestWebSocketThroughReverseProxyOutlivesAReloadThenGetsGoingAway(t *testing.T) {
	upstream, closes := startWSEcho(t)
	web := freeAddr(t)
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, dir, "site", tlstest.LeafOptions{Names: []string{"site.test"}})
	const drainTimeout = 4 * time.Second
	config := func(tag string) string {
		return wsProxyConfig(web, upstream, filesWrapper(leaf), drainTimeout.String(), tag)
	}
	d := startFlipd(t, config("one"))

	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second,
		TLSClientConfig: &tls.Config{ServerName: "site.test", RootCAs: ca.Pool()}}
	c, resp, err := dialer.Dial("wss://"+web+"/ws", nil)
	if err != nil {
		t.Fatalf("dialing the WebSocket: %v", err)
	}
	resp.Body.Close()
	defer c.Close()
	wsEcho(t, c, "before the reload")

	old := d.pid()
	before := len(d.log())
	d.reload(config("two"))
	reloaded := time.Now()
	d.waitFor("the old generation to drain", func() bool {
		return strings.Contains(d.log()[before:], "draining")
	})
	if logs := d.log()[before:]; !strings.Contains(logs, "open_conns=1") && !strings.Contains(logs, `"open_conns":1`) {
		t.Errorf("the old generation did not count the WebSocket when it began to drain:\n%s", logs)
	}
	for i := 0; time.Since(reloaded) < drainTimeout/2; i++ {
		wsEcho(t, c, fmt.Sprintf("after the reload %d", i))
		time.Sleep(100 * time.Millisecond)
	}

	c.SetReadDeadline(time.Now().Add(2 * drainTimeout))
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("client, %s after the reload: %v, want a close frame with code 1001", time.Since(reloaded), err)
	}
	select {
	case code := <-closes:
		if code != websocket.CloseGoingAway {
			t.Errorf("upstream: close code %d, want 1001", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream's WebSocket did not end")
	}
	d.waitExit(old)
	if logs := d.log()[before:]; strings.Contains(logs, "drain ended with connections closed") {
		t.Errorf("the old generation had to cut connections:\n%s", logs)
	}
}

// Over plain TCP the WebSocket may move to the new generation, or stay in
// the old one; either way it outlives the reload.
func TestPlainWebSocketThroughReverseProxyOutlivesAReload(t *testing.T) {
	upstream, _ := startWSEcho(t)
	web := freeAddr(t)
	const drainTimeout = 4 * time.Second
	config := func(tag string) string { return wsProxyConfig(web, upstream, "", drainTimeout.String(), tag) }
	d := startFlipd(t, config("one"))
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+web+"/ws", nil)
	if err != nil {
		t.Fatalf("dialing the WebSocket: %v", err)
	}
	resp.Body.Close()
	defer c.Close()
	wsEcho(t, c, "before the reload")
	d.reload(config("two"))
	waitAnswer(t, "http://"+web+"/tag", "two")
	reloaded := time.Now()
	for i := 0; time.Since(reloaded) < drainTimeout/2; i++ {
		wsEcho(t, c, fmt.Sprintf("after the reload %d", i))
		time.Sleep(100 * time.Millisecond)
	}
}
