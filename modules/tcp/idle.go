package tcp

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// idleConn closes its connection once no byte has moved through it for
// timeout. A timer that looks at the time of the last progress, rather
// than read deadlines, catches a connection silent in both directions
// even while one side is half-closed or a write is stuck, and costs a
// clock reading per call instead of a deadline update.
type idleConn struct {
	net.Conn
	timeout time.Duration
	expired func()

	start  time.Time    // monotonic origin of last
	last   atomic.Int64 // nanoseconds after start of the last progress
	closed atomic.Bool
	timer  *time.Timer
}

// watchIdle wraps c; expired is called, and c closed, when c has been
// idle for timeout.
func watchIdle(c net.Conn, timeout time.Duration, expired func()) *idleConn {
	ic := &idleConn{Conn: c, timeout: timeout, expired: expired, start: time.Now()}
	ic.timer = time.AfterFunc(timeout, ic.check)
	return ic
}

func (c *idleConn) check() {
	if c.closed.Load() {
		return
	}
	idle := time.Since(c.start) - time.Duration(c.last.Load())
	if idle < c.timeout {
		c.timer.Reset(c.timeout - idle)
		return
	}
	c.expired()
	c.Close()
}

func (c *idleConn) touch() {
	c.last.Store(int64(time.Since(c.start)))
}

func (c *idleConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

// CloseWrite half-closes the connection when the one under it can.
func (c *idleConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// stop ends the watch without closing the connection.
func (c *idleConn) stop() {
	c.closed.Store(true)
	c.timer.Stop()
}

func (c *idleConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.timer.Stop()
	}
	return c.Conn.Close()
}
