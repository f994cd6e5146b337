// Package tunnel copies bytes both ways between two connections, a client
// and a backend, in a way its owner controls: it can stop at a point where
// no byte is in flight inside the process, to hand both connections and
// its state to another process, which resumes it; and it can end cleanly
// when its generation's drain runs out of time, with a WebSocket Close
// frame (status 1001, going away) at a frame boundary on both sides, or a
// FIN on both sides for any other byte stream.
//
// The tunnel is generic: the http module runs one for each Upgrade
// request it proxies (WebSocket or not), and a TCP proxy can run one for
// each connection pair.
package tunnel

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Framing says what a tunnel knows of the bytes it carries.
type Framing uint8

const (
	// Raw is any byte stream. Ending it sends a FIN both ways.
	Raw Framing = iota
	// WebSocket is a stream of RFC 6455 frames both ways, from the moment
	// the tunnel starts (after the 101 response). Ending it stops each
	// direction at a frame boundary and sends a Close frame, status 1001,
	// both ways.
	WebSocket
)

// Options configure a tunnel started with [New].
type Options struct {
	// Framing is what the tunnel carries. Default: Raw.
	Framing Framing
	// ClientBuffered are bytes already read from the client (by an HTTP
	// server's buffered reader, say), to be written to the backend
	// before anything else.
	ClientBuffered []byte
	// BackendBuffered are bytes already read from the backend, to be
	// written to the client before anything else.
	BackendBuffered []byte
	// Logger receives the tunnel's errors at debug level. Nil discards.
	Logger hclog.Logger
}

// Outcome is how a tunnel's Run ended.
type Outcome int

const (
	// Finished: both sides closed, or one failed; both conns are closed.
	Finished Outcome = iota
	// Moved: the tunnel handed its conns to Move's function, which took
	// them; the tunnel no longer touches them.
	Moved
	// Ended: End ended the tunnel cleanly; both conns are closed.
	Ended
)

// bufSize is each direction's copy buffer, and so the most bytes a moved
// tunnel carries in its state per direction.
const bufSize = 32 << 10

// moveWriteGrace is how long a direction that is writing when a move
// begins may go on writing before it is interrupted; what it has not
// written by then travels in the state.
const moveWriteGrace = 20 * time.Millisecond

// Why the copy loops were interrupted.
const (
	running int32 = iota
	stopMove
	stopEnd
)

// The directions, as indexes of Tunnel.dirs.
const (
	toBackend = 0 // from the client
	toClient  = 1 // from the backend
)

// Tunnel copies between a client and a backend connection. Create it with
// [New] or [Resume], then call Run.
type Tunnel struct {
	client, backend net.Conn
	framing         Framing
	dirs            [2]*direction
	log             hclog.Logger

	stopping atomic.Int32              // why the copy loops are interrupted
	moves    chan moveRequest          // to Run
	endCh    chan struct{}             // End was called; buffered
	endBy    atomic.Pointer[time.Time] // when End must be over
	done     chan struct{}             // closed when Run returns
}

// direction is one way of the tunnel.
type direction struct {
	src, dst net.Conn
	buf      []byte
	pending  []byte // read from src, not yet written to dst
	frames   frames // WebSocket frame boundaries of what src sent
	eof      bool   // src has ended and dst was half-closed
}

// New returns a tunnel between client and backend, to be started with Run.
func New(client, backend net.Conn, opts Options) *Tunnel {
	t := newTunnel(client, backend, opts.Framing, opts.Logger)
	for i, b := range [2][]byte{opts.ClientBuffered, opts.BackendBuffered} {
		d := t.dirs[i]
		d.pending = append([]byte(nil), b...)
		d.frames.advance(d.pending)
	}
	return t
}

func newTunnel(client, backend net.Conn, framing Framing, log hclog.Logger) *Tunnel {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Tunnel{
		client:  client,
		backend: backend,
		framing: framing,
		dirs: [2]*direction{
			{src: client, dst: backend, buf: make([]byte, bufSize)},
			{src: backend, dst: client, buf: make([]byte, bufSize)},
		},
		log:   log,
		moves: make(chan moveRequest),
		endCh: make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
}

// Framing reports what the tunnel carries.
func (t *Tunnel) Framing() Framing { return t.framing }

// Done is closed once Run has returned.
func (t *Tunnel) Done() <-chan struct{} { return t.done }

// Close closes both connections at once; Run returns soon after.
func (t *Tunnel) Close() {
	t.client.Close()
	t.backend.Close()
}

// End asks the tunnel to end cleanly by the time by: a WebSocket gets a
// Close frame (1001) both ways at a frame boundary, other streams a FIN
// both ways; the tunnel then waits, until by at the latest, for both peers
// to answer and close, and closes both connections. End does not wait.
func (t *Tunnel) End(by time.Time) {
	t.endBy.Store(&by)
	select {
	case t.endCh <- struct{}{}:
	default:
	}
}

// Run copies both ways until both sides have closed, a side fails, the
// tunnel moves or End has ended it. It closes both connections unless the
// tunnel moved.
func (t *Tunnel) Run() Outcome {
	defer close(t.done)
	for {
		errs := make(chan error, 2)
		active := 0
		for _, d := range t.dirs {
			if !d.eof {
				active++
				go func() { errs <- t.copy(d) }()
			}
		}
		stop, failed := t.wait(errs, active)
		switch {
		case failed != nil || stop == nil: // a side failed, or both ended
			if failed != nil {
				t.log.Debug("tunnel failed", "error", failed)
			}
			t.Close()
			return Finished
		case stop.end:
			t.finish()
			return Ended
		}
		if err := t.move(stop.move); err == nil {
			return Moved
		}
	}
}

// stopReason is why wait interrupted the copy loops.
type stopReason struct {
	end  bool
	move moveRequest
}

// wait waits for the active copy loops to return. A move or an end
// interrupts them; wait then returns why, once they have all returned.
func (t *Tunnel) wait(errs <-chan error, active int) (*stopReason, error) {
	var stop *stopReason
	var failed error
	moves := t.moves
	for active > 0 {
		select {
		case err := <-errs:
			active--
			if err != nil && !(stop != nil && isTimeout(err)) && failed == nil {
				failed = err
				t.Close() // wakes the other direction
			}
		case req := <-moves:
			stop, moves = &stopReason{move: req}, nil
			t.interrupt(stopMove)
		case <-t.endCh:
			if stop != nil && !stop.end && stop.move.reply != nil {
				stop.move.reply <- errors.New("tunnel: ending")
			}
			stop, moves = &stopReason{end: true}, nil
			t.interrupt(stopEnd)
		}
	}
	if failed != nil {
		if stop != nil && stop.move.reply != nil {
			stop.move.reply <- fmt.Errorf("tunnel: a side failed: %w", failed)
		}
		return nil, failed
	}
	if stop == nil {
		// Both directions reached EOF; a move or an end that comes now
		// finds the tunnel finished.
		return nil, nil
	}
	return stop, nil
}

// interrupt wakes both copy loops: blocked reads return at once, and for
// a move, blocked writes soon. Each loop returns once it has written out
// what it read (or, for a move, what it could).
func (t *Tunnel) interrupt(why int32) {
	t.stopping.Store(why)
	now := time.Now()
	for _, d := range t.dirs {
		d.src.SetReadDeadline(now)
		switch why {
		case stopMove:
			d.dst.SetWriteDeadline(now.Add(moveWriteGrace))
		case stopEnd:
			d.dst.SetWriteDeadline(*t.endBy.Load())
		}
	}
}

// copy copies one direction until src ends, an error, or an interruption
// at a safe point: nothing read is left unwritten, except what a move's
// write deadline cut off, which stays in d.pending.
func (t *Tunnel) copy(d *direction) error {
	for {
		if err := d.flush(); err != nil {
			return err
		}
		if t.stopping.Load() != running {
			return nil
		}
		n, err := d.src.Read(d.buf)
		if n > 0 {
			d.frames.advance(d.buf[:n])
			d.pending = d.buf[:n]
		}
		if err == nil {
			continue
		}
		if ferr := d.flush(); ferr != nil {
			return ferr
		}
		switch {
		case errors.Is(err, io.EOF):
			d.eof = true
			closeWrite(d.dst)
			return nil
		case isTimeout(err) && t.stopping.Load() != running:
			return nil
		}
		return err
	}
}

// flush writes d.pending to d.dst.
func (d *direction) flush() error {
	for len(d.pending) > 0 {
		n, err := d.dst.Write(d.pending)
		d.pending = d.pending[n:]
		if err != nil {
			return err
		}
	}
	return nil
}

// closeWrite half-closes c, or closes it if it cannot half-close.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	c.Close()
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}
