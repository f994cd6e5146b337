//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// WebSockets proxied by the http module move to the new generation on a
// reload (issue 12), over plain TCP, unless move_connections is false.

// handoverConfig serves /health with the health handler (which names the
// generation that answers) and proxies every other path to upstream; the
// admin API listens on admin, or is disabled if admin is "". upgrade is
// the upgrade object's fields.
func handoverConfig(web, admin, upstream, upgrade string) string {
	adminConfig := `{"disabled": true}`
	if admin != "" {
		adminConfig = fmt.Sprintf(`{"listen": %q}`, admin)
	}
	return fmt.Sprintf(`{"admin": %s, "upgrade": {%s}, "listeners": {
		"web": {"address": "tcp/%s", "module": "http", "routes": [
			{"match": {"path": "/health"}, "handle": {"module": "health"}},
			{"handle": {"module": "reverse_proxy", "upstreams": [%q]}}]}}}`, adminConfig, upgrade, web, upstream)
}

// wsMessage is message i of a stream: every seventh is 40 KB of binary,
// which gorilla sends in several frames, the others a short text; each
// holds its number, so that a loss, a duplicate or a reordering shows.
func wsMessage(i int64) (int, []byte) {
	if i%7 == 0 {
		b := make([]byte, 40<<10)
		pattern(byte(i), 0, b)
		binary.BigEndian.PutUint64(b, uint64(i))
		return websocket.BinaryMessage, b
	}
	return websocket.TextMessage, fmt.Appendf(nil, "message %d", i)
}

// wsStream sends the messages of wsMessage on a WebSocket to an echo,
// one every few milliseconds, and checks that each comes back byte-exact
// and in order.
type wsStream struct {
	c            *websocket.Conn
	sent, echoed atomic.Int64
	stop         chan struct{}
	wrote        chan error // the writer's end: nil once stopped
	failed       chan error // the reader's first error
}

func startWSStream(c *websocket.Conn) *wsStream {
	s := &wsStream{c: c, stop: make(chan struct{}), wrote: make(chan error, 1), failed: make(chan error, 1)}
	go func() {
		for i := int64(0); ; i++ {
			select {
			case <-s.stop:
				s.wrote <- nil
				return
			default:
			}
			typ, msg := wsMessage(i)
			c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if err := c.WriteMessage(typ, msg); err != nil {
				s.wrote <- fmt.Errorf("sending message %d: %w", i, err)
				return
			}
			s.sent.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	go func() {
		for i := int64(0); ; i++ {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			typ, got, err := c.ReadMessage()
			if err != nil {
				s.failed <- fmt.Errorf("reading the echo of message %d: %w", i, err)
				return
			}
			if wantType, want := wsMessage(i); typ != wantType || !bytes.Equal(got, want) {
				s.failed <- fmt.Errorf("the echo of message %d differs: got %d bytes of type %d starting %q, want %d of type %d",
					i, len(got), typ, got[:min(len(got), 16)], len(want), wantType)
				return
			}
			s.echoed.Add(1)
		}
	}()
	return s
}

// waitEchoed waits until n more messages came back, failing t at the
// first wrong one.
func (s *wsStream) waitEchoed(t *testing.T, d *daemon, n int64) {
	t.Helper()
	target := s.echoed.Load() + n
	deadline := time.Now().Add(30 * time.Second)
	for s.echoed.Load() < target {
		select {
		case err := <-s.failed:
			t.Fatalf("WebSocket after %d messages echoed: %v; log:\n%s", s.echoed.Load(), err, d.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("WebSocket: %d messages echoed, waited 30s for %d; log:\n%s", s.echoed.Load(), target, d.log())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// finish stops sending and checks that every message sent came back.
func (s *wsStream) finish(t *testing.T, d *daemon) {
	t.Helper()
	close(s.stop)
	if err := <-s.wrote; err != nil {
		t.Fatalf("WebSocket: %v; log:\n%s", err, d.log())
	}
	s.waitEchoed(t, d, s.sent.Load()-s.echoed.Load())
	select {
	case err := <-s.failed:
		t.Fatalf("WebSocket: %v", err)
	default:
	}
	t.Logf("WebSocket: %d messages sent, each echoed once, byte-exact and in order", s.sent.Load())
}

// closeNormally ends the WebSocket with a Close frame (1000) and waits for
// the answer; the stream must be finished.
func (s *wsStream) closeNormally(t *testing.T) {
	t.Helper()
	s.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "done"),
		time.Now().Add(10*time.Second))
	select {
	case err := <-s.failed: // the reader sees the answer
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
			t.Errorf("closing the WebSocket: %v, want the echo's Close frame (1000)", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the WebSocket's close was not answered")
	}
	s.c.Close()
}

// dialStream opens a WebSocket through flipd to the echo and starts a
// stream on it.
func dialStream(t *testing.T, url string) *wsStream {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dialing the WebSocket: %v", err)
	}
	resp.Body.Close()
	t.Cleanup(func() { c.Close() })
	return startWSStream(c)
}

// expectUpstreamClose waits for the echo's WebSocket to end with code.
func expectUpstreamClose(t *testing.T, closes <-chan int, code int) {
	t.Helper()
	select {
	case got := <-closes:
		if got != code {
			t.Errorf("the upstream's WebSocket ended with code %d, want %d", got, code)
		}
	case <-time.After(30 * time.Second):
		t.Error("the upstream's WebSocket did not end")
	}
}

func TestWebSocketMessagesMoveByteExactAcrossTwentyReloads(t *testing.T) {
	upstream, closes, accepted := startCountingWSEcho(t)
	web, admin := freeAddr(t), freeAddr(t)
	config := handoverConfig(web, admin, upstream, `"drain_timeout": "30s"`)
	d := startFlipd(t, config)
	s := dialStream(t, "ws://"+web+"/ws")
	s.waitEchoed(t, d, 20)
	for range 20 {
		// Messages flow while the reload moves the WebSocket; the old
		// generation must be gone long before drain_timeout.
		d.reloadAndMove(config)
		s.waitEchoed(t, d, 20)
	}
	s.finish(t, d)
	if n := accepted.Load(); n != 1 {
		t.Errorf("the upstream accepted %d WebSockets, want 1: the same one all along", n)
	}
	if status := get(t, "http://"+admin+"/status"); !strings.Contains(status, `"moved_conns":20`) {
		t.Errorf("GET /status does not count 20 moves: %s", status)
	}
	s.closeNormally(t)
	expectUpstreamClose(t, closes, websocket.CloseNormalClosure)
	if logs := d.log(); strings.Contains(logs, "drain ended with connections closed") {
		t.Errorf("an old generation had to cut connections:\n%s", logs)
	}
}

// With move_connections false, a plaintext WebSocket drains as before:
// it stays with the generation that accepted it, which lives on until
// the WebSocket ends (long before its drain_timeout), and no longer.
func TestAPlainWebSocketStaysWithItsGenerationWhenMoveConnectionsIsFalse(t *testing.T) {
	upstream, closes, accepted := startCountingWSEcho(t)
	web := freeAddr(t)
	config := handoverConfig(web, "", upstream, `"drain_timeout": "60s", "move_connections": false`)
	d := startFlipd(t, config)
	s := dialStream(t, "ws://"+web+"/ws")
	s.waitEchoed(t, d, 20)
	old := d.pid()
	d.reload(config)
	waitAnswer(t, "http://"+web+"/health", `{"status":"ready","generation":2}`)
	s.waitEchoed(t, d, 20)
	time.Sleep(time.Second)
	s.waitEchoed(t, d, 20)
	if reaped(old, d.cmd) {
		t.Fatalf("the old generation exited while its WebSocket, which must not move, was open; log:\n%s", d.log())
	}
	s.finish(t, d)
	s.closeNormally(t)
	expectUpstreamClose(t, closes, websocket.CloseNormalClosure)
	d.waitExit(old) // 30s at most: half its drain_timeout
	if n := accepted.Load(); n != 1 {
		t.Errorf("the upstream accepted %d WebSockets, want 1", n)
	}
	if logs := d.log(); strings.Contains(logs, "moved_conns=1") {
		t.Errorf("a connection moved with move_connections false:\n%s", logs)
	}
}
