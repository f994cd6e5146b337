package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Serve accepts connections on ln and serves each with the handler until
// Drain closes ln; it then returns nil. The accept loop is the runtime's
// ([flipd.ConnServer]): it retries temporary accept errors (EMFILE)
// with a growing pause, returns any other at once, and tracks every
// connection before its handler starts. It may be called for several
// listeners at once. Called after Drain, it closes ln and returns nil.
func (s *Server) Serve(ln net.Listener) error {
	if s.handler == nil {
		return errors.New("tcp: Serve called before Provision: no handler")
	}
	if err := s.loop().Serve(ln); err != nil {
		return fmt.Errorf("tcp: %w", err)
	}
	return nil
}

// Drain stops accepting at once, closing every listener given to Serve,
// and lets the open connections end by themselves: an echo client keeps
// its echo until it closes, a proxied connection lasts until both ends
// are done. If the handler is a Drainer it is told, so that it can end
// its connections sooner. When ctx ends first, Drain closes the
// connections left, ends their handlers' contexts, and returns an error
// that says how many connections it closed and wraps ctx.Err().
func (s *Server) Drain(ctx context.Context) error {
	if err := s.loop().Drain(ctx); err != nil {
		return fmt.Errorf("tcp: %w", err)
	}
	return nil
}

// OpenConns reports how many connections the server holds open.
func (s *Server) OpenConns() int {
	return s.loop().OpenConns()
}

// serveConn is what the accept loop runs for each connection: the
// handler, behind the idle timeout.
type serveConn struct{ s *Server }

func (sc serveConn) ServeConn(ctx context.Context, conn net.Conn) error {
	return sc.withIdle(ctx, conn, sc.s.handler.Handle)
}

// withIdle runs serve on conn behind the idle timeout, if any. It stops
// the timer, but leaves conn open: the accept loop closes it, or moves
// it.
func (sc serveConn) withIdle(ctx context.Context, conn net.Conn, serve func(context.Context, net.Conn) error) error {
	s := sc.s
	if s.IdleTimeout > 0 {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		client := conn.RemoteAddr().String()
		idle := watchIdle(conn, time.Duration(s.IdleTimeout), func() {
			s.logger.Debug("closing idle connection", "client", client, "idle_timeout", s.IdleTimeout)
			cancel()
		})
		defer idle.stop()
		return serve(ctx, idle)
	}
	return serve(ctx, conn)
}
