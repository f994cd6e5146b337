package drain

import (
	"net"
	"time"
)

// An adopted connection was idle in the server it comes from: its client
// keeps it in a pool and may send its next request at any time before
// the server's IdleTimeout. net/http takes it for a new connection and
// would give it ReadHeaderTimeout from now instead, closing it early, as
// clients reuse it. So until its first byte the wrapper keeps net/http's
// read deadlines for itself and applies IdleTimeout, counted from the
// adoption; from the first byte on it applies net/http's deadlines moved
// by the time waited, as if net/http had begun to read the request then,
// as it does for its own idle connections.

// adopt wraps c, adopted by d, and starts its wait for a request.
func (d *Server) adopt(c net.Conn) net.Conn {
	hc, ok := d.wrapConn(c).(*handoffConn)
	if !ok {
		return c
	}
	hc.waitFirst = true
	if idle := d.idleWait(); idle > 0 {
		hc.idleUntil = time.Now().Add(idle)
	}
	hc.arm(hc.idleUntil)
	return hc
}

// effectiveDeadline is the read deadline the connection is given for the
// one net/http asked for. Called with c.mu held.
func (c *handoffConn) effectiveDeadline() time.Time {
	t := c.deadline
	switch {
	case c.waitFirst:
		t = c.idleUntil
	case c.shift != 0 && t.After(aLongTimeAgo):
		t = t.Add(c.shift)
	}
	if own := c.ownDeadline(); !own.IsZero() && (t.IsZero() || own.Before(t)) {
		return own // the drain enforces the timeouts (timeouts.go)
	}
	return t
}

// requestBegins ends the wait for the first request: net/http's deadlines
// apply from now on, moved by the time waited since net/http set its
// last one. Called with c.mu held, after a Read returned bytes.
func (c *handoffConn) requestBegins() {
	c.waitFirst = false
	if !c.setAt.IsZero() {
		c.shift = time.Since(c.setAt)
	}
	if c.d.own && c.d.headerTimeout > 0 {
		c.own = c.ownUntil(c.d.headerTimeout)
	}
	if !c.kicked {
		c.arm(c.effectiveDeadline())
	}
}
