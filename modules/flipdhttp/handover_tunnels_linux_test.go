package flipdhttp

import (
	"bytes"
	"context"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/flipdtest"
	"github.com/flipd/flipd/internal/tunnel"
)

// fdSink moves tunnels to another Server of this process as a handover
// moves them between processes (flipdtest.MoveSink: SCM_RIGHTS), and
// tells the test what each moved tunnel's state held.
type fdSink struct {
	*flipdtest.MoveSink
	moved chan tunnel.Inspection
}

// newFdSink returns a sink whose tunnels the Server to adopts.
func newFdSink(t *testing.T, to *Server) *fdSink {
	t.Helper()
	s := &fdSink{MoveSink: flipdtest.NewMoveSink(t, to.adoptTunnel), moved: make(chan tunnel.Inspection, 4)}
	s.OnMove = func(mc flipd.MovedConn) {
		in, err := tunnel.Inspect(mc.State[1:])
		if err != nil {
			t.Errorf("moved state: %v", err)
		}
		s.moved <- in
	}
	return s
}

func TestTunnelsMoveBetweenServersByteExactThroughAFrameSplitAndPendingBytes(t *testing.T) {
	backend := startWSBackend(t)
	cfg := proxyConfig(backend.Listener.Addr().String())
	a, b, c := start(t, cfg, nil), start(t, cfg, nil), start(t, cfg, nil)

	var slow atomic.Bool
	d := websocket.Dialer{
		HandshakeTimeout: testTimeout,
		WriteBufferSize:  1 << 20, // a message is one frame
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return slowConn{Conn: conn, slow: &slow}, nil
		},
	}
	ws, resp, err := d.Dial("ws://"+a.addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer ws.Close()
	echoWS(t, ws, "before the move")

	// Move A to B while a large frame from the client is half-way.
	slow.Store(true)
	big := pattern(256<<10, 1)
	sent := make(chan error, 1)
	go func() { sent <- ws.WriteMessage(websocket.BinaryMessage, big) }()
	time.Sleep(50 * time.Millisecond)
	a.moveTunnels(newFdSink(t, b.Server))
	var first tunnel.Inspection
	select {
	case first = <-newSinkMoved(t, a):
	case <-time.After(testTimeout):
		t.Fatal("the tunnel did not move from A")
	}
	if !first.MidFrame[0] {
		t.Errorf("the move from A found the client's frame whole (%+v); the test meant to split it", first)
	}
	if err := <-sent; err != nil {
		t.Fatalf("sending the large message: %v", err)
	}
	slow.Store(false)
	expectMessage(t, ws, big)
	waitFor(t, "A to let go of the tunnel", func() bool { return a.OpenConns() == 0 })
	if n := b.OpenConns(); n != 1 {
		t.Errorf("B counts %d connections after adopting one tunnel, want 1", n)
	}
	echoWS(t, ws, "after the first move")

	// Move B to C while the backend's answer waits for the client, which
	// does not read: bytes read from the backend travel in the state.
	// The answer is larger than every buffer on its way.
	huge := pattern(16<<20, 2)
	if err := ws.WriteMessage(websocket.BinaryMessage, huge); err != nil {
		t.Fatal(err)
	}
	waitStalled(t, ws.NetConn().(slowConn).Conn)
	sinkC := newFdSink(t, c.Server)
	b.moveTunnels(sinkC)
	var second tunnel.Inspection
	select {
	case second = <-sinkC.moved:
	case <-time.After(testTimeout):
		t.Fatal("the tunnel did not move from B")
	}
	if second.Pending[1] == 0 {
		t.Errorf("the move from B carried no pending byte from the backend (%+v); the test meant it to", second)
	}
	expectMessage(t, ws, huge)
	echoWS(t, ws, "after the second move")
	waitFor(t, "B to let go of the tunnel", func() bool { return b.OpenConns() == 0 })
	if n := c.OpenConns(); n != 1 {
		t.Errorf("C counts %d connections after adopting one tunnel, want 1", n)
	}
}

// newSinkMoved returns the moved channel of the sink last given to ts.
func newSinkMoved(t *testing.T, ts *testServer) <-chan tunnel.Inspection {
	t.Helper()
	ts.tunnels.mu.Lock()
	defer ts.tunnels.mu.Unlock()
	s, ok := ts.tunnels.sink.(*fdSink)
	if !ok {
		t.Fatal("no fdSink given")
	}
	return s.moved
}

// waitStalled waits until bytes wait unread in c's receive queue and
// their count has stopped growing: every buffer on their way is full.
func waitStalled(t *testing.T, c net.Conn) {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	queued := func() (n int) {
		rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
		return n
	}
	last, same := -1, 0
	waitFor(t, "the answer to fill every buffer", func() bool {
		time.Sleep(20 * time.Millisecond)
		n := queued()
		if n > 0 && n == last {
			same++
		} else {
			same = 0
		}
		last = n
		return same >= 5
	})
}

// expectMessage reads the next message and compares it with want.
func expectMessage(t *testing.T, ws *websocket.Conn, want []byte) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(testTimeout))
	_, got, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("reading a %d-byte message: %v", len(want), err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("got %d bytes, want %d; first difference at byte %d", len(got), len(want), i)
	}
}
