package drain

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Connections that a handler hijacks (WebSockets, other Upgrade tunnels)
// leave net/http, which no longer tracks them; the drain does. The
// connection a handler gets from Hijack is a wrapper whose Close the drain
// sees, so it counts in OpenConns and keeps Shutdown waiting until the
// handler closes it. Near the end of Shutdown's context (its deadline),
// the drain ends those still open: each in its turn, spread over
// [Options.CloseSpread] so that their clients do not all come back at one
// instant, with a FIN, unless the handler said how to end it with
// [OnDeadline] (a WebSocket proxy sends a Close frame).

// EndFunc ends a long-lived connection cleanly when the drain's time runs
// out: it asks the peer to go away (a FIN, a WebSocket Close frame) and
// closes the connection by the time by, when the drain closes it anyway.
// It must not block.
type EndFunc func(by time.Time)

// DefaultEndMargin bounds the time each long-lived connection gets between
// the moment the drain asks it to end and the moment it is closed: the
// peer's answer to a Close frame or a FIN comes in within it. A short
// drain gives it a fifth of its time instead.
const DefaultEndMargin = time.Second

// longLived is a connection the drain tracks outside net/http: one a
// handler hijacked, or one the server adopted (see [Server.Track]).
type longLived struct {
	net.Conn
	d      *Server
	since  time.Time
	end    atomic.Pointer[EndFunc]
	ended  atomic.Bool
	forget sync.Once
}

// Close closes the connection and stops tracking it.
func (l *longLived) Close() error {
	err := l.Conn.Close()
	l.forget.Do(func() { l.d.forgetLongLived(l) })
	return err
}

// CloseWrite half-closes the connection: a FIN, or for TLS a close_notify
// alert followed by a FIN.
func (l *longLived) CloseWrite() error {
	c := l.Conn
	if tc, ok := c.(*tls.Conn); ok {
		if err := tc.CloseWrite(); err != nil {
			return err
		}
		c = tc.NetConn()
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// NetConn returns the wrapped connection. Close the wrapper, not it, or
// the connection stays tracked.
func (l *longLived) NetConn() net.Conn { return l.Conn }

// OnDeadline sets how the drain ends c, a connection returned by Hijack on
// a drained server or by [Server.Track], when the drain's time runs out;
// by default it gets a FIN, and is closed a moment later. It reports
// whether c is such a connection.
func OnDeadline(c net.Conn, end EndFunc) bool {
	l, ok := c.(*longLived)
	if ok {
		l.end.Store(&end)
	}
	return ok
}

// Track has the drain count c, a connection that is no longer net/http's
// (one adopted from an older generation, say), like a hijacked one, until
// the returned wrapper is closed; use the wrapper in c's place. end, if
// not nil, is how the drain ends it (see [OnDeadline]).
func (d *Server) Track(c net.Conn, end EndFunc) net.Conn {
	l := &longLived{Conn: c, d: d, since: time.Now()}
	if end != nil {
		l.end.Store(&end)
	}
	d.addLongLived(l)
	return l
}

// hijackStarted records that a handler is about to hijack, so that the
// drain does not finish between net/http's letting go of the connection
// and the drain's tracking it; hijackDone records the outcome.
func (d *Server) hijackStarted() {
	d.mu.Lock()
	d.hijacking++
	d.mu.Unlock()
}

func (d *Server) hijackDone(c net.Conn) net.Conn {
	var l *longLived
	if c != nil {
		l = &longLived{Conn: c, d: d, since: time.Now()}
		d.addLongLived(l)
	}
	d.mu.Lock()
	d.hijacking--
	d.mu.Unlock()
	d.pokeLongLived()
	if l == nil {
		return nil
	}
	return l
}

func (d *Server) addLongLived(l *longLived) {
	d.mu.Lock()
	d.longLived[l] = struct{}{}
	endNow := d.endingAll
	by := d.endBy
	d.mu.Unlock()
	if endNow {
		// The handler that just hijacked it gets a moment to say how it
		// ends (OnDeadline) before it is ended.
		time.AfterFunc(lateEndDelay, func() { l.endBy(by) })
	}
}

// lateEndDelay is how long after a connection is hijacked, once every
// long-lived connection is being ended, the drain ends it.
const lateEndDelay = 20 * time.Millisecond

func (d *Server) forgetLongLived(l *longLived) {
	d.mu.Lock()
	delete(d.longLived, l)
	d.mu.Unlock()
	d.pokeLongLived()
}

// pokeLongLived wakes waitLongLived.
func (d *Server) pokeLongLived() {
	select {
	case d.longLivedGone <- struct{}{}:
	default:
	}
}

// endBy ends l, once, with its EndFunc or a FIN.
func (l *longLived) endBy(by time.Time) {
	if l.ended.Swap(true) {
		return
	}
	if end := l.end.Load(); end != nil {
		(*end)(by)
		return
	}
	l.CloseWrite()
	time.AfterFunc(max(0, time.Until(by)), func() { l.Close() })
}

// endLongLived ends the long-lived connections still open as the drain's
// deadline nears: in the window of CloseSpread that ends one margin
// before the deadline, the oldest first, evenly spread; each gets the
// margin to say goodbye. Those that come later are ended at once. It
// returns when all are ended or ctx is done.
func (d *Server) endLongLived(ctx context.Context) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return
	}
	now := time.Now()
	margin := min(DefaultEndMargin, deadline.Sub(now)/5)
	last := deadline.Add(-margin)
	first := last.Add(-d.spread)
	if first.Before(now) {
		first = now
	}
	if !sleepUntil(ctx, first) {
		return
	}
	d.mu.Lock()
	conns := make([]*longLived, 0, len(d.longLived))
	for l := range d.longLived {
		conns = append(conns, l)
	}
	d.mu.Unlock()
	slices.SortFunc(conns, func(a, b *longLived) int { return a.since.Compare(b.since) })
	span := last.Sub(first)
	byMargin := margin * 3 / 4 // what a connection gets to close, ending before ctx does
	for i, l := range conns {
		at := first.Add(span * time.Duration(i) / time.Duration(len(conns)))
		if !sleepUntil(ctx, at) {
			return
		}
		l.endBy(at.Add(byMargin))
	}
	d.mu.Lock()
	d.endingAll, d.endBy = true, deadline.Add(-margin/4)
	rest := make([]*longLived, 0, len(d.longLived))
	for l := range d.longLived {
		rest = append(rest, l)
	}
	d.mu.Unlock()
	for _, l := range rest {
		l.endBy(deadline.Add(-margin / 4))
	}
}

// sleepUntil waits until t or ctx's end; it reports whether t came first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// waitLongLived waits until no long-lived connection is left.
func (d *Server) waitLongLived(ctx context.Context) error {
	for {
		d.mu.Lock()
		n := len(d.longLived) + d.hijacking
		d.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-d.longLivedGone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// closeLongLived closes every long-lived connection left; it reports how
// many there were.
func (d *Server) closeLongLived() int {
	d.mu.Lock()
	rest := make([]*longLived, 0, len(d.longLived))
	for l := range d.longLived {
		rest = append(rest, l)
	}
	d.mu.Unlock()
	for _, l := range rest {
		l.Close()
	}
	return len(rest)
}
