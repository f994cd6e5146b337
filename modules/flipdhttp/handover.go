package flipdhttp

import (
	"errors"
	"fmt"
	"net"

	"github.com/flipd/flipd"
)

// Connection handover ([flipd.ConnMover]): the kinds of connection the
// server moves to the next generation, named by the first byte of
// MovedConn.State.
const (
	// movedIdle is an idle HTTP/1 keep-alive connection (or a new one
	// before its first request): net/http holds no byte of its next
	// request, which, if sent already, waits in the socket. State is this
	// byte alone; Conns is the client's connection.
	movedIdle byte = 'i'

	// tunnelStateKind ('t', handover_tunnels.go) is an Upgrade tunnel.
)

// HandoverKey implements [flipd.ConnMover]. An idle HTTP/1 connection
// needs nothing of the server that adopts it but HTTP/1: the routes and
// limits of the new config apply to its next request, as to a new
// connection.
func (s *Server) HandoverKey() string {
	return "http/1"
}

// MoveConns implements [flipd.ConnMover]: from now until Drain returns,
// each plaintext HTTP/1 connection that waits for a request, and of whose
// next request no byte has been read, moves to sink (see
// [drain.Server.MoveIdle]); one that is busy moves once its response is
// sent. Upgrade tunnels (WebSockets) on plaintext listeners move too, each
// at a point where no byte is in flight (see moveTunnels). TLS and HTTP/2
// connections drain as before.
func (s *Server) MoveConns(sink flipd.ConnSink) {
	if s.drain == nil {
		return
	}
	s.drain.MoveIdle(func(c net.Conn) error {
		// On success the sink has closed c, as drain.MoveIdle wants.
		return sink.Move(flipd.MovedConn{Conns: []net.Conn{c}, State: []byte{movedIdle}})
	})
	s.moveTunnels(sink)
}

// AdoptConn implements [flipd.ConnMover]: it serves a connection that
// the previous generation's server moved, by its kind.
func (s *Server) AdoptConn(mc flipd.MovedConn) error {
	if s.drain == nil {
		return errors.New("http server: AdoptConn called before Provision")
	}
	if len(mc.State) == 0 {
		return errors.New("http server: adopting a moved connection: its state is empty")
	}
	switch kind := mc.State[0]; kind {
	case movedIdle:
		if len(mc.Conns) != 1 || len(mc.State) != 1 {
			return fmt.Errorf("http server: adopting an idle connection: got %d connections and %d bytes of state, want 1 and 1",
				len(mc.Conns), len(mc.State))
		}
		return s.drain.Adopt(mc.Conns[0])
	case tunnelStateKind:
		return s.adoptTunnel(mc)
	default:
		return fmt.Errorf("http server: adopting a moved connection of unknown kind %q", kind)
	}
}

// Interface guard.
var _ flipd.ConnMover = (*Server)(nil)
