package drain

import (
	"fmt"
	"net"
	"time"
)

// Timeouts the drain enforces itself (Options.OwnTimeouts).
//
// net/http enforces ReadHeaderTimeout and IdleTimeout by reading the
// clock and setting a read deadline for each, twice for each keep-alive
// request: the idle wait's once the response is out, the header's once
// the next request's first bytes are in. On a server whose connections
// are plaintext the drain's wrapper sees everything it needs to do that
// itself: net/http's state changes and the Reads. So with OwnTimeouts,
// at the first Serve, if the listener is plaintext, the drain takes both
// timeouts out of the http.Server (net/http then sets neither and reads
// no clock for them) and the wrapper sets them as its own read deadline,
// which ends a Read as net/http's would: the header's from the accept
// and again from the first byte after an idle wait, the idle wait's from
// the response, none from when the header has been read. They are counted
// from the time of the deadline keeper's last look, at most a period
// behind the clock while it runs, plus a period: a connection is cut
// between its timeout and a period after it (later by any stall of the
// process), never before, and a keep-alive request reads no clock for
// either. Far deadlines wait in the wrapper as net/http's do (deadline.go).
//
// Plaintext: a *net.TCPListener or *net.UnixListener, or a listener whose
// Unwrap method returns one (unwrapped in turn). A TLS connection needs
// net/http's timeouts: its handshake deadline comes from them, and
// between requests net/http sets read deadlines on the *tls.Conn, which
// the drain does not wrap. Unencrypted HTTP/2 takes its idle timeout from
// the http.Server, and with a ReadTimeout net/http reads the clock for
// each request anyway. In those cases, and for a timeout shorter than two
// keeper periods, which the coarse clock would make too loose, the drain
// leaves the http.Server alone.

// decideTimeouts decides, for the first listener served (plain: it is
// plaintext), whether the drain enforces the timeouts itself, and checks
// that a later listener allows what was decided. Called with d.mu held,
// before srv serves.
func (d *Server) decideTimeouts(ln net.Listener, plain bool) error {
	if !d.ownDecided {
		d.ownDecided = true
		if d.ownAsked && plain && d.canOwnTimeouts() {
			d.own = true
			d.headerTimeout, d.idleTimeout = d.srv.ReadHeaderTimeout, d.srv.IdleTimeout
			d.srv.ReadHeaderTimeout, d.srv.IdleTimeout = 0, 0
		}
		return nil
	}
	if d.own && !plain {
		return fmt.Errorf("drain: %s: Options.OwnTimeouts: the server's first listener was plaintext, so the drain, not net/http, enforces its timeouts, which it cannot do for this one (%T): serve it from another Server",
			ln.Addr(), ln)
	}
	return nil
}

// canOwnTimeouts reports whether the drain can enforce srv's timeouts.
func (d *Server) canOwnTimeouts() bool {
	s := d.srv
	if s.ReadTimeout != 0 || d.h2c || (s.ReadHeaderTimeout == 0 && s.IdleTimeout == 0) {
		return false
	}
	minimum := 2 * d.lazy.period
	ok := func(t time.Duration) bool { return t == 0 || t >= minimum }
	return ok(s.ReadHeaderTimeout) && ok(s.IdleTimeout)
}

// plainListener reports whether ln accepts plaintext connections the
// drain wraps.
func plainListener(ln net.Listener) bool {
	for range 16 {
		switch l := ln.(type) {
		case *net.TCPListener, *net.UnixListener:
			return true
		case interface{ Unwrap() net.Listener }:
			ln = l.Unwrap()
		default:
			return false
		}
	}
	return false
}

// setOwn sets the drain's own read deadline to timeout from now (none if
// timeout is zero) and applies it. Called with c.mu held, once the drain
// enforces the timeouts.
func (c *handoffConn) setOwn(timeout time.Duration) {
	if timeout <= 0 {
		if c.own == 0 {
			return
		}
		c.own = 0
	} else {
		c.own = c.ownUntil(timeout)
	}
	if c.deadline.IsZero() && c.armed.IsZero() && c.listed && c.shift == 0 &&
		!c.waitFirst && !c.kicked && !c.closed && !c.moved.Load() {
		// A keep-alive request's three changes, with net/http asking for
		// no deadline and Conn holding none: what apply would do, without
		// its look at every other case: in a server, where the drain's
		// code is cold for each request, about a sixth of the drain's
		// cost (BenchmarkRequestConnCallsCold). A deadline beyond
		// the horizon waits for the keeper, which knows the conn
		// (listed) and cannot stop unseen: its last look takes c.mu to
		// give the conn its deadline. One at or before the horizon, or a
		// horizon of a keeper that does not run, is apply's.
		if c.own == 0 {
			c.pending = false
			return
		}
		if c.own > c.d.lazy.horizon.Load() {
			c.pending = true
			return
		}
	}
	c.apply()
}

// ownUntil is the drain's own deadline timeout from now, in Unix
// nanoseconds, on the keeper's clock: a period behind the clock at most,
// so a period is added, and the deadline is never early.
func (c *handoffConn) ownUntil(timeout time.Duration) int64 {
	return c.d.lazy.clock() + int64(timeout+c.d.lazy.period)
}

// ownDeadline is the drain's own read deadline, zero if none.
func (c *handoffConn) ownDeadline() time.Time {
	if c.own == 0 {
		return time.Time{}
	}
	return time.Unix(0, c.own)
}

// idleWait is how long a connection may wait for its next request.
func (d *Server) idleWait() time.Duration {
	if d.own {
		return d.idleTimeout
	}
	if d.srv.IdleTimeout != 0 {
		return d.srv.IdleTimeout
	}
	return d.srv.ReadTimeout // as net/http waits for an idle connection
}

// accepted starts the header's timeout of a connection the listener has
// just accepted, as net/http does for a new connection. A connection the
// drain does not wrap (a listener whose Unwrap hid what it does) gets it
// as a plain read deadline, which net/http lifts once the first header is
// read; it then has no idle timeout, which is logged once.
func (d *Server) accepted(c net.Conn) {
	if d.headerTimeout <= 0 {
		return
	}
	hc, ok := c.(*handoffConn)
	if !ok {
		_ = c.SetReadDeadline(time.Now().Add(d.headerTimeout))
		d.unwrappedOnce.Do(func() {
			d.log.Warn("Options.OwnTimeouts: a listener that looked plaintext accepted a connection the drain does not wrap: its IdleTimeout is not enforced",
				"conn", fmt.Sprintf("%T", c))
		})
		return
	}
	hc.mu.Lock()
	hc.own = time.Now().Add(d.headerTimeout).UnixNano()
	hc.apply()
	hc.mu.Unlock()
}
