package bench

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// runWS opens one WebSocket as connection id and sends a message every
// cfg.Every until the run stops; then it waits for the last echoes and
// closes. It returns nil if it ended so, or why not (it has counted the
// loss and the messages by then).
func (r *wsRun) runWS(id uint64, opened func()) error {
	d := websocket.Dialer{HandshakeTimeout: r.cfg.Stall, ReadBufferSize: 1024, WriteBufferSize: 1024}
	c, resp, err := d.Dial(r.cfg.URL, nil)
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%w: %s", err, resp.Status)
		}
		return fmt.Errorf("%w: %w", errDial, err)
	}
	defer c.Close()
	opened()
	t := newSeqTracker()
	readErr := make(chan error, 1)
	go func() { readErr <- r.readWS(c, id, t) }()

	err = r.sendWS(c, id, t, readErr)
	counts := t.counts()
	r.count(func() { r.res.Messages.add(counts) })
	if err != nil {
		c.Close()
		r.lost(&r.res.WS, lossKind(err), fmt.Errorf("websocket %#x: %w", id, err), counts.Lost())
	}
	return err
}

// sendWS sends until the run stops or the connection fails, then lets
// the echoes settle and closes with 1000 (normal).
func (r *wsRun) sendWS(c *websocket.Conn, id uint64, t *seqTracker, readErr <-chan error) error {
	// A random phase, so that the messages of all connections do not
	// go out at once.
	select {
	case <-time.After(rand.N(r.cfg.Every)):
	case err := <-readErr:
		return err
	case <-r.stop:
	}
	tick := time.NewTicker(r.cfg.Every)
	defer tick.Stop()
	for !r.stopping() {
		seq := t.next()
		c.SetWriteDeadline(time.Now().Add(r.cfg.Stall))
		if err := c.WriteMessage(websocket.BinaryMessage, wsMessage(id, seq, time.Now())); err != nil {
			return err
		}
		select {
		case <-tick.C:
		case err := <-readErr:
			return err
		case <-r.stop:
		}
	}
	// Settle: every echo back, or the bound.
	deadline := time.Now().Add(r.cfg.Settle)
	for t.outstanding() > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %d of websocket %#x", errSettle, t.outstanding(), id)
		}
		select {
		case err := <-readErr:
			return err
		case <-time.After(5 * time.Millisecond):
		}
	}
	c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	select {
	case err := <-readErr:
		if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			return nil
		}
		return err
	case <-time.After(r.cfg.Settle):
		return nil // the server never answered the close: not a loss of data
	}
}

// readWS checks every echo until the connection ends.
func (r *wsRun) readWS(c *websocket.Conn, id uint64, t *seqTracker) error {
	for {
		c.SetReadDeadline(time.Now().Add(r.cfg.Stall))
		_, msg, err := c.ReadMessage()
		if err != nil {
			return stalled(err, r.cfg.Stall)
		}
		seq, sent, err := parseWSMessage(id, msg)
		if err == nil && t.echo(seq) == echoUnsent {
			err = fmt.Errorf("an echo of message %d, not sent yet", seq)
		}
		if err != nil {
			r.count(func() { r.res.WrongEchoes++ })
			return fmt.Errorf("%w: %w", errWrongEcho, err)
		}
		rtt := time.Since(sent)
		r.count(func() { r.rtt = append(r.rtt, rtt) })
	}
}

// streamFaultError is a stream whose echo went wrong.
type streamFaultError struct {
	off int64
	why streamVerdict
}

func (e *streamFaultError) Error() string { return streamFault(e.off, e.why) }

// runStream opens one TCP stream and writes the counter stream, cfg.Chunk
// bytes every cfg.StreamEvery, verifying the echo, until the run stops;
// then it waits for the echo of the rest, half-closes, and reads to the
// end. It returns nil if it ended so, or why not.
func (r *wsRun) runStream(id uint64, opened func()) error {
	c, err := net.DialTimeout("tcp", r.cfg.TCPAddr, r.cfg.Stall)
	if err != nil {
		return fmt.Errorf("%w: %w", errDial, err)
	}
	defer c.Close()
	opened()
	var written, verified atomic.Int64
	readErr := make(chan error, 1)
	go func() { readErr <- r.readStream(c, &verified) }()

	err = r.writeStream(c, &written, &verified, readErr)
	w, v := written.Load(), verified.Load()
	r.count(func() {
		r.res.BytesWritten += w
		r.res.BytesVerified += v
		var fault *streamFaultError
		if errors.As(err, &fault) {
			r.res.StreamFaults[fault.why]++
		}
	})
	if err != nil {
		c.Close()
		r.count(func() { r.res.BytesLost += w - v })
		r.lost(&r.res.TCP, lossKind(err), fmt.Errorf("stream %#x, %d bytes written, %d echoed: %w", id, w, v, err), 0)
	}
	return err
}

// writeStream writes until the run stops or the stream fails, then lets
// the echo settle and ends the stream.
func (r *wsRun) writeStream(c net.Conn, written, verified *atomic.Int64, readErr <-chan error) error {
	buf := make([]byte, r.cfg.Chunk)
	tick := time.NewTicker(r.cfg.StreamEvery)
	defer tick.Stop()
	for !r.stopping() {
		counterBytes(buf, written.Load())
		c.SetWriteDeadline(time.Now().Add(r.cfg.Stall))
		n, err := c.Write(buf)
		written.Add(int64(n))
		if err != nil {
			return err
		}
		select {
		case <-tick.C:
		case err := <-readErr:
			return err
		case <-r.stop:
		}
	}
	deadline := time.Now().Add(r.cfg.Settle)
	for verified.Load() < written.Load() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %d bytes", errSettle, written.Load()-verified.Load())
		}
		select {
		case err := <-readErr:
			return err
		case <-time.After(5 * time.Millisecond):
		}
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	select {
	case err := <-readErr:
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	case <-time.After(r.cfg.Settle):
		return nil // every byte came back; the end did not: not a loss of data
	}
}

// readStream verifies the echo as it comes, until the stream ends (io.EOF)
// or goes wrong.
func (r *wsRun) readStream(c net.Conn, verified *atomic.Int64) error {
	var check streamChecker
	buf := make([]byte, 32<<10)
	for {
		c.SetReadDeadline(time.Now().Add(r.cfg.Stall))
		n, err := c.Read(buf)
		if n > 0 {
			if off, why, ok := check.check(buf[:n]); !ok {
				verified.Store(off)
				return &streamFaultError{off, why}
			}
			verified.Add(int64(n))
		}
		if err != nil {
			return stalled(err, r.cfg.Stall)
		}
	}
}
