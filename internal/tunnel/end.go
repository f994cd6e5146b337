package tunnel

import (
	"errors"
	"io"
	"sync"
	"time"
)

// finish ends the tunnel cleanly once End has stopped both copy loops
// (each at a point where it had written out what it read), and closes
// both connections by the End's deadline at the latest.
func (t *Tunnel) finish() {
	defer t.Close()
	by := *t.endBy.Load()
	for _, c := range []interface{ SetDeadline(time.Time) error }{t.client, t.backend} {
		c.SetDeadline(by)
	}
	t.each(func(d *direction) {
		if d.eof {
			return
		}
		if d.flush() != nil {
			d.eof = true // nothing more can be written there
			return
		}
		if t.framing == WebSocket && d.toFrameEnd() != nil {
			d.eof = true
			return
		}
	})
	t.each(func(d *direction) {
		if d.eof {
			return
		}
		if t.framing == WebSocket && !d.frames.closed {
			// The client's frames are masked; the backend's are not.
			d.dst.Write(closeFrame(closeGoingAway, d == t.dirs[toBackend]))
		}
		if t.framing == Raw {
			closeWrite(d.dst)
		}
	})
	// Wait for each peer's answer (its own Close frame, or its FIN), so
	// that closing leaves nothing unread, which would send a reset.
	t.each(func(d *direction) {
		if t.framing == WebSocket {
			d.readUntilClose()
		} else {
			io.Copy(io.Discard, d.src)
		}
	})
}

// each runs f for both directions at once and waits for both.
func (t *Tunnel) each(f func(d *direction)) {
	var wg sync.WaitGroup
	for _, d := range t.dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(d)
		}()
	}
	wg.Wait()
}

// toFrameEnd copies the rest of the frame d is in the middle of, if any,
// reading no byte beyond it.
func (d *direction) toFrameEnd() error {
	for !d.frames.atBoundary() {
		n, err := d.src.Read(d.buf[:min(uint64(len(d.buf)), d.frames.toBoundary())])
		if n > 0 {
			d.frames.advance(d.buf[:n])
			d.pending = d.buf[:n]
			if ferr := d.flush(); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// errNoClose is returned by readUntilClose when the peer ended without a
// Close frame.
var errNoClose = errors.New("tunnel: the peer ended without a close frame")

// readUntilClose reads and drops what d's source sends until a whole
// Close frame has come, or its end, or the deadline.
func (d *direction) readUntilClose() error {
	for !(d.frames.closed && d.frames.atBoundary()) {
		n, err := d.src.Read(d.buf)
		d.frames.advance(d.buf[:n])
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errNoClose
			}
			return err
		}
	}
	return nil
}
