package flipd

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// MovableConnHandler is a [ConnHandler] whose connections can move to the
// next generation instead of draining: the [ConnServer] running it is then
// a [ConnMover]. Recipe:
//
//   - ServeConn (and ResumeConn) watch [Moving](ctx). When it closes,
//     they stop at a point where no byte of the connection is held
//     inside the handler (wake a blocked Read with SetReadDeadline(now),
//     write out what was read), and return [Move](state, extra...):
//     state is what ResumeConn needs (bytes read and not yet written,
//     say), extra are connections that move with this one (a proxy's
//     upstream). Return Move only when nothing is in flight; a handler
//     stuck in a Write just goes on, and drains as before.
//   - In the next generation ResumeConn gets a [MovedConn] with the
//     connection first, the extras after, and the state, and goes on
//     serving as ServeConn would (it may be asked to move again).
//   - If the move fails (the next generation does not adopt this key,
//     say), the ConnServer calls ResumeConn here with the same
//     MovedConn, so nothing is lost; Moving then never closes again for
//     that connection.
type MovableConnHandler interface {
	ConnHandler
	// HandoverKey is [ConnMover.HandoverKey]: the module and every
	// setting a moved connection depends on; "" opts out.
	HandoverKey() string
	// ResumeConn serves a connection moved to this handler. The first of
	// mc.Conns is the tracked connection (the ConnServer closes it when
	// ResumeConn returns, as for ServeConn); the extras are the
	// handler's to close.
	ResumeConn(ctx context.Context, mc MovedConn) error
}

// movingKey is the context key of a connection's move signal.
type movingKey struct{}

// Moving returns a channel that is closed when the runtime asks the
// connection served with ctx to move to the next generation (see
// [MovableConnHandler]); nil (never closed) for a ctx that no
// ConnServer gave, or once a move failed.
func Moving(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(movingKey{}).(<-chan struct{})
	return ch
}

func withMoving(ctx context.Context, ch <-chan struct{}) context.Context {
	return context.WithValue(ctx, movingKey{}, ch)
}

// MoveError is what [Move] returns: a handler stopped at a safe point
// and asks to move its connection.
type MoveError struct {
	State []byte
	Extra []net.Conn
}

func (e *MoveError) Error() string {
	return fmt.Sprintf("connection stopped to move (%d bytes of state, %d more connections)", len(e.State), len(e.Extra))
}

// Move is what a [MovableConnHandler]'s ServeConn or ResumeConn returns to
// move its connection, with state (at most [MaxMovedState] bytes) and the
// connections that move with it, in order.
func Move(state []byte, extra ...net.Conn) error {
	return &MoveError{State: state, Extra: extra}
}

// canMove reports whether c can move: it is a plain socket, with nothing
// of its stream held above it. A connection a listener wrapper made (TLS,
// whose state lives in crypto/tls) is never asked to move, not even
// interrupted: it drains.
func canMove(c net.Conn) bool {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// HandoverKey returns the handler's key when it is a
// [MovableConnHandler], "" (no handover) otherwise.
func (s *ConnServer) HandoverKey() string {
	if h, ok := s.Handler.(MovableConnHandler); ok {
		return h.HandoverKey()
	}
	return ""
}

// MoveConns asks every connection to move to sink: each handler sees
// [Moving] close, and the connections that return [Move] are passed to
// sink; the others drain. Connections accepted afterwards are asked at
// once. Only plain sockets (*net.TCPConn, *net.UnixConn, as the listener
// returned them) are asked: a connection a listener wrapper made (TLS,
// say) is left alone and drains. It does not block.
func (s *ConnServer) MoveConns(sink ConnSink) {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sink != nil {
		return
	}
	s.sink = sink
	close(s.moving)
}

// AdoptConn takes a connection a previous generation moved here and
// serves it with the handler's ResumeConn, tracked like an accepted one
// (MaxConns does not count it). It fails, and the caller closes
// mc.Conns, when the handler cannot resume or the server drains already.
func (s *ConnServer) AdoptConn(mc MovedConn) error {
	h, ok := s.Handler.(MovableConnHandler)
	if !ok {
		return errors.New("ConnServer: the handler cannot resume moved connections")
	}
	if len(mc.Conns) == 0 {
		return errors.New("ConnServer: a moved connection without a connection")
	}
	s.init()
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return errors.New("ConnServer: draining: cannot adopt a connection")
	}
	raw := mc.Conns[0]
	conn := s.conns.Track(raw)
	s.running.Add(1)
	s.handlers.Add(1)
	s.mu.Unlock()
	mc.Conns = append([]net.Conn{conn}, mc.Conns[1:]...)
	go s.run(conn, raw, false, func(ctx context.Context) error { return h.ResumeConn(ctx, mc) })
	return nil
}

// moved handles a handler's return: a [MoveError] moves the connection to
// the sink, or, when that fails, resumes it here with moving off. It
// returns the error the connection finally ended with.
func (s *ConnServer) moved(ctx context.Context, conn, raw net.Conn, err error) error {
	for {
		var me *MoveError
		if !errors.As(err, &me) {
			return err
		}
		h, ok := s.Handler.(MovableConnHandler)
		if !ok {
			return fmt.Errorf("the handler asked to move but cannot resume: %w", err)
		}
		s.mu.Lock()
		sink := s.sink
		s.mu.Unlock()
		client := conn.RemoteAddr().String()
		if sink != nil {
			merr := sink.Move(MovedConn{Conns: append([]net.Conn{raw}, me.Extra...), State: me.State})
			if merr == nil {
				s.Logger.Debug("connection moved to the new generation", "client", client)
				return nil
			}
			s.Logger.Debug("connection could not move; it stays", "client", client, "error", merr)
		}
		// Never asked again: the next generation would refuse it too.
		ctx = withMoving(ctx, nil)
		err = h.ResumeConn(ctx, MovedConn{Conns: append([]net.Conn{conn}, me.Extra...), State: me.State})
	}
}
