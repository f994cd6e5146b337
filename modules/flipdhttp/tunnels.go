package flipdhttp

import (
	"context"
	"crypto/tls"
	"net"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/drain"
	"github.com/flipd/flipd/internal/tunnel"
)

// tunnelSet holds a Server's Upgrade tunnels, so that they can move to
// the next generation. Handlers reach it through the request's context.
type tunnelSet struct {
	log hclog.Logger

	mu      sync.Mutex
	tunnels map[*openTunnel]struct{}
	sink    flipd.ConnSink // set by moveTunnels: tunnels move as they come
}

// openTunnel is one running tunnel.
type openTunnel struct {
	t       *tunnel.Tunnel
	client  net.Conn // as the drain tracks it
	backend net.Conn
}

func newTunnelSet(log hclog.Logger) *tunnelSet {
	return &tunnelSet{log: log, tunnels: make(map[*openTunnel]struct{})}
}

// tunnelSetKey carries a Server's *tunnelSet in its requests' contexts.
type tunnelSetKey struct{}

// tunnelsOf returns the tunnel set of the server serving ctx's request,
// or nil (which runs tunnels all the same).
func tunnelsOf(ctx context.Context) *tunnelSet {
	ts, _ := ctx.Value(tunnelSetKey{}).(*tunnelSet)
	return ts
}

// run runs t, a tunnel between client and backend, until it ends or
// moves. The drain ends it cleanly when its time runs out (client is the
// drain's, from Hijack or Track).
func (ts *tunnelSet) run(t *tunnel.Tunnel, client, backend net.Conn) {
	drain.OnDeadline(client, t.End)
	ot := &openTunnel{t: t, client: client, backend: backend}
	if ts != nil {
		ts.mu.Lock()
		ts.tunnels[ot] = struct{}{}
		sink := ts.sink
		ts.mu.Unlock()
		if sink != nil {
			go ts.move(ot, sink)
		}
		defer func() {
			ts.mu.Lock()
			delete(ts.tunnels, ot)
			ts.mu.Unlock()
		}()
	}
	if t.Run() == tunnel.Moved {
		// The sink closed the sockets' descriptors here; closing the
		// drain's wrapper stops its tracking.
		client.Close()
	}
}

// moveAll moves every tunnel that can move, now and until the server is
// drained, through sink.
func (ts *tunnelSet) moveAll(sink flipd.ConnSink) {
	ts.mu.Lock()
	ts.sink = sink
	all := make([]*openTunnel, 0, len(ts.tunnels))
	for ot := range ts.tunnels {
		all = append(all, ot)
	}
	ts.mu.Unlock()
	for _, ot := range all {
		go ts.move(ot, sink)
	}
}

// move moves ot through sink if its client connection is plaintext TCP
// or unix; a tunnel whose move fails goes on here.
func (ts *tunnelSet) move(ot *openTunnel, sink flipd.ConnSink) {
	raw, ok := movable(ot.client)
	if !ok {
		return
	}
	err := ot.t.Move(func(_, backend net.Conn, state []byte) error {
		return sink.Move(flipd.MovedConn{
			Conns: []net.Conn{raw, backend},
			State: append([]byte{tunnelStateKind}, state...),
		})
	})
	if err != nil && err != tunnel.ErrNotRunning {
		ts.log.Warn("a tunnel could not move to the next generation; it stays and drains here", "error", err)
	}
}

// movable returns the socket under c, a connection the drain wraps, if it
// can move: TLS terminated here cannot.
func movable(c net.Conn) (net.Conn, bool) {
	for {
		switch cc := c.(type) {
		case *tls.Conn:
			return nil, false
		case *net.TCPConn, *net.UnixConn:
			return cc, true
		case interface{ NetConn() net.Conn }:
			c = cc.NetConn()
		default:
			return nil, false
		}
	}
}

// tunnelStateKind is the first byte of a moved tunnel's state.
const tunnelStateKind = 't'
