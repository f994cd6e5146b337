package tunnel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
)

// MoveFunc takes a stopped tunnel's connections and state elsewhere (to
// the next generation). It returns nil if it took them: the tunnel then
// never touches them again, and whoever resumes them calls [Resume] with
// the same state. An error leaves them with the tunnel, which resumes.
type MoveFunc func(client, backend net.Conn, state []byte) error

type moveRequest struct {
	fn    MoveFunc
	reply chan error
}

// ErrNotRunning is what Move returns for a tunnel whose Run has returned,
// or that ends or fails before it could stop.
var ErrNotRunning = errors.New("tunnel: not running")

// Move stops the tunnel at a safe point and calls fn with its connections
// and its state. A safe point is where no byte is in flight inside the
// tunnel: each direction has written out what it read, or, if its
// destination would not take it within a few milliseconds, the rest is
// in the state. Reads pending in the kernel stay there and travel with
// the sockets. If fn fails, the tunnel resumes where it stopped and Move
// returns fn's error; if fn succeeds, Run returns Moved.
func (t *Tunnel) Move(fn MoveFunc) error {
	req := moveRequest{fn: fn, reply: make(chan error, 1)}
	select {
	case t.moves <- req:
	case <-t.done:
		return ErrNotRunning
	}
	select {
	case err := <-req.reply:
		return err
	case <-t.done:
		// Run may have answered and returned at once.
		select {
		case err := <-req.reply:
			return err
		default:
			return ErrNotRunning
		}
	}
}

// move runs a move request with the copy loops stopped; on failure it
// gets the connections ready to copy again.
func (t *Tunnel) move(req moveRequest) error {
	err := req.fn(t.client, t.backend, t.state())
	req.reply <- err
	if err == nil {
		return nil
	}
	t.log.Debug("tunnel stays: its move failed", "error", err)
	t.stopping.Store(running)
	for _, c := range []net.Conn{t.client, t.backend} {
		c.SetDeadline(time.Time{})
	}
	return err
}

// stateVersion is the first byte of a tunnel's state; Resume refuses
// others.
const stateVersion = 1

// Flags of a direction in the state.
const (
	flagEOF    = 1 << iota // the source ended; the destination is half-closed
	flagClosed             // a WebSocket Close frame went by
)

// state encodes what Resume needs: the framing, and for each direction
// (client to backend first) its flags, its frame position and the bytes
// read but not yet written.
func (t *Tunnel) state() []byte {
	b := []byte{stateVersion, byte(t.framing)}
	for _, d := range t.dirs {
		var flags byte
		if d.eof {
			flags |= flagEOF
		}
		if d.frames.closed {
			flags |= flagClosed
		}
		b = append(b, flags, byte(d.frames.hdrLen))
		b = append(b, d.frames.hdr[:d.frames.hdrLen]...)
		b = binary.BigEndian.AppendUint64(b, d.frames.remain)
		b = binary.AppendUvarint(b, uint64(len(d.pending)))
		b = append(b, d.pending...)
	}
	return b
}

// Resume returns a tunnel that goes on where the one that wrote state
// stopped for a move, between the same client and backend (their
// descriptors, received by this process). Start it with Run.
func Resume(client, backend net.Conn, state []byte, log hclog.Logger) (*Tunnel, error) {
	if len(state) < 2 || state[0] != stateVersion {
		return nil, fmt.Errorf("tunnel: resuming: state of unknown version (%d bytes)", len(state))
	}
	framing := Framing(state[1])
	if framing != Raw && framing != WebSocket {
		return nil, fmt.Errorf("tunnel: resuming: unknown framing %d", framing)
	}
	t := newTunnel(client, backend, framing, log)
	rest := state[2:]
	for _, d := range t.dirs {
		var err error
		if rest, err = d.decode(rest); err != nil {
			return nil, fmt.Errorf("tunnel: resuming: %w", err)
		}
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("tunnel: resuming: %d bytes after the state", len(rest))
	}
	// The same conns as the stopped tunnel's (a move within a process)
	// still have its deadlines.
	for _, c := range []net.Conn{client, backend} {
		if c != nil {
			c.SetDeadline(time.Time{})
		}
	}
	return t, nil
}

var errShortState = errors.New("state cut short")

// decode reads one direction's part of a state and returns the rest.
func (d *direction) decode(b []byte) ([]byte, error) {
	if len(b) < 2 {
		return nil, errShortState
	}
	flags, hdrLen := b[0], int(b[1])
	b = b[2:]
	if hdrLen > len(d.frames.hdr) || len(b) < hdrLen+8 {
		return nil, errShortState
	}
	d.eof, d.frames.closed = flags&flagEOF != 0, flags&flagClosed != 0
	d.frames.hdrLen = copy(d.frames.hdr[:], b[:hdrLen])
	d.frames.remain = binary.BigEndian.Uint64(b[hdrLen:])
	b = b[hdrLen+8:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, errShortState
	}
	d.pending = append([]byte(nil), b[k:k+int(n)]...)
	return b[k+int(n):], nil
}

// Inspection is what a moved tunnel's state says, for logs and tests.
type Inspection struct {
	Framing Framing
	// Pending is how many bytes each direction (client to backend
	// first) had read and not yet written.
	Pending [2]int
	// MidFrame says whether each direction stopped inside a WebSocket
	// frame.
	MidFrame [2]bool
}

// Inspect decodes a state written for a move.
func Inspect(state []byte) (Inspection, error) {
	t, err := Resume(nil, nil, state, nil)
	if err != nil {
		return Inspection{}, err
	}
	in := Inspection{Framing: t.framing}
	for i, d := range t.dirs {
		in.Pending[i] = len(d.pending)
		in.MidFrame[i] = !d.frames.atBoundary()
	}
	return in, nil
}
