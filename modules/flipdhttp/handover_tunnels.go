package flipdhttp

import (
	"errors"
	"fmt"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/internal/tunnel"
)

// Upgrade tunnels move to the next generation (see [flipd.ConnMover]):
// both connections, the client's first, with the tunnel's state behind
// the kind byte 't' (what was read and not yet written, where each
// direction stands in its WebSocket frames). A tunnel whose client came
// over TLS terminated here stays and drains.

// moveTunnels hands every tunnel on a plaintext connection to sink, now
// and, for tunnels opened later, until the server is drained. A tunnel
// whose move fails goes on here. It does not block.
func (s *Server) moveTunnels(sink flipd.ConnSink) {
	if s.tunnels != nil {
		s.tunnels.moveAll(sink)
	}
}

// adoptTunnel resumes a tunnel moved from an older generation's server:
// it counts among this server's connections, and moves again or drains
// like the tunnels this server opened.
func (s *Server) adoptTunnel(mc flipd.MovedConn) error {
	if s.drain == nil {
		return errors.New("http server: AdoptConn called before Provision")
	}
	if len(mc.State) == 0 || mc.State[0] != tunnelStateKind || len(mc.Conns) != 2 {
		return fmt.Errorf("http server: adopting a tunnel: want state of kind %q and 2 connections, got %d bytes and %d", tunnelStateKind, len(mc.State), len(mc.Conns))
	}
	client := s.drain.Track(mc.Conns[0], nil)
	t, err := tunnel.Resume(client, mc.Conns[1], mc.State[1:], s.log)
	if err != nil {
		client.Close()
		return fmt.Errorf("http server: adopting a tunnel: %w", err)
	}
	go s.tunnels.run(t, client, mc.Conns[1])
	return nil
}
