package tcp

import (
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/flipd/flipd"
)

// MovableHandler is a Handler whose connections can move to the next
// generation on a reload instead of draining (see the package's
// Handover section). Handle and Resume watch flipd.Moving(ctx); when it
// closes they stop where no byte is held inside the handler and return
// flipd.Move(state, extra...) (see flipd.MovableConnHandler for the
// contract). Resume serves a connection that moved here, the client's
// first in mc.Conns; the listener closes that one when Resume returns,
// the extras are the handler's.
type MovableHandler interface {
	Handler
	// HandoverKey names what a moved connection depends on (the state's
	// format, say); a new generation adopts only with an equal key.
	HandoverKey() string
	Resume(ctx context.Context, mc flipd.MovedConn) error
}

// HandoverKey is the handler's key behind the handler's ID, or "" when
// the handler cannot move its connections: these then drain.
func (s *Server) HandoverKey() string { return s.loop().HandoverKey() }

// MoveConns asks every connection whose handler can move to move to
// sink; see flipd.ConnMover.
func (s *Server) MoveConns(sink flipd.ConnSink) { s.loop().MoveConns(sink) }

// AdoptConn serves a connection a previous generation moved here; see
// flipd.ConnMover.
func (s *Server) AdoptConn(mc flipd.MovedConn) error { return s.loop().AdoptConn(mc) }

// movableConn is the accept loop's handler when the tcp handler is a
// MovableHandler.
type movableConn struct {
	serveConn
	h MovableHandler
}

func (mc movableConn) HandoverKey() string {
	k := mc.h.HandoverKey()
	if k == "" {
		return ""
	}
	return string(mc.h.FlipdModule().ID) + " " + k
}

func (mc movableConn) ResumeConn(ctx context.Context, moved flipd.MovedConn) error {
	return mc.withIdle(ctx, moved.Conns[0], func(ctx context.Context, conn net.Conn) error {
		moved.Conns[0] = conn
		return mc.h.Resume(ctx, moved)
	})
}

// interruptOnMove sets a deadline in the past on conns once ctx's
// connection is asked to move, which wakes every Read and Write on them;
// asked reports whether that happened (it is set before the deadline).
// stop ends the watch.
func interruptOnMove(ctx context.Context, conns ...net.Conn) (asked *atomic.Bool, stop func()) {
	asked = new(atomic.Bool)
	moving := flipd.Moving(ctx)
	if moving == nil {
		return asked, func() {}
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-moving:
			asked.Store(true)
			for _, c := range conns {
				c.SetDeadline(time.Now())
			}
		case <-done:
		}
	}()
	return asked, func() { close(done) }
}

// clearDeadlines undoes interruptOnMove's deadline on a connection that
// resumes (here after a failed move, or in a new generation).
func clearDeadlines(conns ...net.Conn) {
	for _, c := range conns {
		c.SetDeadline(time.Time{})
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

var _ flipd.MovableConnHandler = movableConn{}
