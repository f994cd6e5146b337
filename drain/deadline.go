package drain

import (
	"time"
)

// Read deadlines given to the connection only when a Read needs them.
//
// net/http sets a connection's read deadline six times for each
// keep-alive request. With the http module's timeouts, two of those are
// in the future, each a timer that the runtime adds or moves: the idle
// wait's (IdleTimeout) once the response is out, and the header's
// (ReadHeaderTimeout) once the next request's first bytes are in; a
// bare server without timeouts sets none. Yet a deadline matters only
// to a Read. The header's is replaced (by none) before any Read, once
// the whole request came in the first one, as a small request does.
//
// So the wrapper keeps the deadline net/http asks for, and gives it to
// the connection inside at once only if it is none (no timer to arm) or
// if a Read is waiting; a future one waits for the next Read, which
// gives it before it reads. A request costs one timer, the idle
// wait's, instead of two and a move, and two calls into the runtime
// fewer; no clock is read for it.

// SetReadDeadline implements [net.Conn]. While a move's past deadline
// wakes a Read, the deadline asked for is kept and set after it.
func (c *handoffConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	if c.waitFirst || c.shift != 0 || c.kicked || c.reading || c.closed || c.moved.Load() {
		err := c.setReadDeadlineNow()
		c.mu.Unlock()
		return err
	}
	var err error
	if !t.IsZero() {
		c.pending = true // the next Read gives it to Conn (see Read)
	} else if c.pending = false; !c.armed.IsZero() {
		c.armed = t
		err = c.Conn.SetReadDeadline(t)
	}
	c.mu.Unlock()
	return err
}

// setReadDeadlineNow gives Conn the read deadline asked for at once: for
// an adopted connection, which moves net/http's deadlines; for a waiting
// Read; for a closed conn, whose error the caller gets. Called with c.mu
// held.
func (c *handoffConn) setReadDeadlineNow() error {
	if c.waitFirst { // only then is setAt used: no clock read for each request
		c.setAt = time.Now()
	}
	if c.kicked || c.moved.Load() {
		return nil
	}
	return c.arm(c.effectiveDeadline())
}

// arm sets Conn's read deadline to t, unless it has it. Called with c.mu
// held, or before the conn is served.
func (c *handoffConn) arm(t time.Time) error {
	c.pending = false
	if t.Equal(c.armed) {
		return nil
	}
	c.armed = t
	return c.Conn.SetReadDeadline(t)
}
