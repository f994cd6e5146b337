package flipdhttp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsBackend is a WebSocket echo server; closes receives the close code
// each of its connections ended with (0: no Close frame), sizes the size
// of each message it read.
type wsBackend struct {
	*httptest.Server
	closes chan int
	sizes  chan int
}

func startWSBackend(t *testing.T) *wsBackend {
	t.Helper()
	b := &wsBackend{closes: make(chan int, 16), sizes: make(chan int, 256)}
	up := websocket.Upgrader{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					b.closes <- ce.Code
				} else {
					b.closes <- 0
				}
				return
			}
			select {
			case b.sizes <- len(msg):
			default:
			}
			if err := c.WriteMessage(typ, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(b.Close)
	return b
}

// dialWS opens a WebSocket to url through the proxy.
func dialWS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: testTimeout}
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dialing %s: %v", url, err)
	}
	resp.Body.Close()
	t.Cleanup(func() { c.Close() })
	return c
}

// echoWS sends msg and checks that it comes back.
func echoWS(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testTimeout))
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("sending %q: %v", msg, err)
	}
	_, got, err := c.ReadMessage()
	if err != nil || string(got) != msg {
		t.Fatalf("echo of %q: %q, %v", msg, got, err)
	}
}

// drainAsync starts draining ts with a deadline of timeout.
func drainAsync(ts *testServer, timeout time.Duration) <-chan error {
	ts.drained = true
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		done <- ts.Drain(ctx)
		<-ts.served
	}()
	return done
}

func TestWebSocketThroughReverseProxyCountsAndLivesUntilTheDrainDeadlineThenGetsGoingAway(t *testing.T) {
	backend := startWSBackend(t)
	ts := start(t, proxyConfig(backend.Listener.Addr().String()), nil)
	c := dialWS(t, "ws://"+ts.addr+"/ws")
	echoWS(t, c, "before the drain")
	if n := ts.OpenConns(); n != 1 {
		t.Errorf("OpenConns = %d with one WebSocket open, want 1", n)
	}

	const drainTimeout = 3 * time.Second
	start := time.Now()
	drained := drainAsync(ts, drainTimeout)
	// While the drain lasts, the WebSocket works and is counted.
	for i := 0; time.Since(start) < drainTimeout/3; i++ {
		echoWS(t, c, fmt.Sprintf("during the drain %d", i))
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case err := <-drained:
		t.Fatalf("the drain ended (%v) %s after it began, with a WebSocket open and %s to go", err, time.Since(start), drainTimeout-time.Since(start))
	default:
	}
	if n := ts.OpenConns(); n != 1 {
		t.Errorf("OpenConns = %d during the drain with one WebSocket open, want 1", n)
	}

	// As the deadline nears, both sides get Close 1001.
	c.SetReadDeadline(time.Now().Add(testTimeout))
	_, _, err := c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("client: %v, want a close frame with code 1001", err)
	}
	select {
	case code := <-backend.closes:
		if code != websocket.CloseGoingAway {
			t.Errorf("backend: close code %d, want 1001", code)
		}
	case <-time.After(testTimeout):
		t.Fatal("the backend's connection did not end")
	}
	// Then the proxy closes its end cleanly: EOF, no reset.
	c.NetConn().SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadAll(c.NetConn()); err != nil {
		t.Errorf("client after the close handshake: %v, want EOF", err)
	}
	if err := <-drained; err != nil {
		t.Errorf("Drain: %v, want nil: the WebSocket ended cleanly before the deadline", err)
	}
	if elapsed := time.Since(start); elapsed > drainTimeout {
		t.Errorf("drain took %s, past its deadline %s", elapsed, drainTimeout)
	}
}

// echoUpgradeBackend answers an "Upgrade: echo" request with 101 and
// echoes the bytes that follow; ended receives what it read when its
// client half-closed.
func echoUpgradeBackend(t *testing.T) (string, <-chan string) {
	t.Helper()
	ended := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		var got strings.Builder
		io.Copy(io.MultiWriter(conn, &got), brw)
		ended <- got.String()
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), ended
}

func TestUpgradeTunnelForwardsBufferedBytesFirstAndGetsAFINAtTheDrainDeadline(t *testing.T) {
	backend, ended := echoUpgradeBackend(t)
	ts := start(t, proxyConfig(backend), nil)
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(testTimeout))
	// Bytes right behind the request reach the server's buffer with it.
	io.WriteString(conn, "GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly,")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	io.WriteString(conn, "late")
	got := make([]byte, len("early,late"))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "early,late" {
		t.Fatalf("echo: %q, %v; want \"early,late\"", got, err)
	}
	if n := ts.OpenConns(); n != 1 {
		t.Errorf("OpenConns = %d with one tunnel open, want 1", n)
	}

	drained := drainAsync(ts, 2*time.Second)
	rest, err := io.ReadAll(br) // until the FIN
	if err != nil || len(rest) != 0 {
		t.Fatalf("client: read %q, %v; want EOF (a FIN) and nothing else", rest, err)
	}
	select {
	case got := <-ended:
		if got != "early,late" {
			t.Errorf("backend read %q before its FIN, want \"early,late\"", got)
		}
	case <-time.After(testTimeout):
		t.Fatal("the backend got no FIN")
	}
	conn.Close() // the client answers the FIN
	if err := <-drained; err != nil {
		t.Errorf("Drain: %v", err)
	}
}

func TestUpgradeRefusedByTheUpstreamIsRelayed(t *testing.T) {
	a := upstream(t, "a")
	ts := start(t, proxyConfig(a.Listener.Addr().String()), nil)
	req := mustRequest(t, "GET", ts.url("/p"))
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "a" || resp.Header.Get("X-Got-Forwarded-For") != "127.0.0.1" {
		t.Errorf("upgrade the upstream ignored: %d %q %v, want 200 \"a\" with X-Forwarded-For", resp.StatusCode, body, resp.Header)
	}
}

func TestWebSocketEndsBetweenTwoFramesWhenTheDeadlineFallsInsideOne(t *testing.T) {
	backend := startWSBackend(t)
	ts := start(t, proxyConfig(backend.Listener.Addr().String()), nil)
	split := new(splitConn)
	d := websocket.Dialer{
		HandshakeTimeout: testTimeout,
		WriteBufferSize:  1 << 20, // a message is one frame, one Write
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			split.Conn = conn
			return split, nil
		},
	}
	ws, resp, err := d.Dial("ws://"+ts.addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer ws.Close()
	echoWS(t, ws, "hello")
	<-backend.sizes

	// The drain's end comes a fifth of its time before its deadline, and
	// must be over 100 ms before it: the frame's first bytes come 300 ms
	// before the end, the rest 100 ms after. (Sending it in 1000-byte
	// pieces a millisecond apart took up to 365 ms under -race on a busy
	// machine, and sometimes more than the 450 ms there were.)
	const drainTimeout = 2 * time.Second
	started := time.Now()
	drained := drainAsync(ts, drainTimeout)
	end := started.Add(drainTimeout * 4 / 5)
	time.Sleep(time.Until(end.Add(-300 * time.Millisecond)))
	split.resume.Store(new(end.Add(100 * time.Millisecond)))
	big := pattern(256<<10, 3)
	if err := ws.WriteMessage(websocket.BinaryMessage, big); err != nil {
		t.Fatalf("sending: %v", err)
	}
	// The backend's handler reports the message on sizes before it reads
	// on and reports the close, so once the close is in, the message is
	// in sizes if it came first. (Selecting on both at once picked either
	// when both were ready, and failed half the runs.)
	var code int
	select {
	case code = <-backend.closes:
	case <-time.After(testTimeout):
		t.Fatal("the backend's connection did not end")
	}
	select {
	case n := <-backend.sizes:
		if n != len(big) {
			t.Errorf("backend got a %d-byte message, want %d", n, len(big))
		}
	default:
		t.Fatalf("backend ended with close code %d before the whole frame came", code)
	}
	if code != websocket.CloseGoingAway {
		t.Errorf("backend: close code %d, want 1001", code)
	}
	// The client sees the echo, if it came before the end, then 1001.
	ws.SetReadDeadline(time.Now().Add(testTimeout))
	for {
		_, msg, err := ws.ReadMessage()
		if err == nil {
			if !bytes.Equal(msg, big) {
				t.Errorf("client: echo of %d bytes differs", len(msg))
			}
			continue
		}
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Errorf("client: %v, want a close frame with code 1001", err)
		}
		break
	}
	if err := <-drained; err != nil {
		t.Errorf("Drain: %v", err)
	}
}

// splitConn, once resume is set, writes the first 1000 bytes of a larger
// Write, waits until resume, then writes the rest: a WebSocket frame sent
// in one Write comes in two parts, with a pause in between.
type splitConn struct {
	net.Conn
	resume atomic.Pointer[time.Time]
}

func (c *splitConn) Write(p []byte) (int, error) {
	at := c.resume.Load()
	if at == nil || len(p) <= 1000 {
		return c.Conn.Write(p)
	}
	n, err := c.Conn.Write(p[:1000])
	if err != nil {
		return n, err
	}
	time.Sleep(time.Until(*at))
	k, err := c.Conn.Write(p[1000:])
	return n + k, err
}

// slowConn writes in small pieces while slow is set, so that a frame is
// still on its way when a move interrupts the tunnel.
type slowConn struct {
	net.Conn
	slow *atomic.Bool
}

func (c slowConn) Write(p []byte) (int, error) {
	if !c.slow.Load() {
		return c.Conn.Write(p)
	}
	n := 0
	for len(p) > 0 {
		k, err := c.Conn.Write(p[:min(len(p), 1000)])
		n += k
		if err != nil {
			return n, err
		}
		p = p[k:]
		time.Sleep(time.Millisecond)
	}
	return n, nil
}

// pattern is n bytes that show any loss, duplication or reordering.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ byte(i>>8) ^ seed
	}
	return b
}
