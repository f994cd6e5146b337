package drain

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The protocol a connection speaks, learned once.
const (
	protoUnknown int32 = iota
	protoHTTP1
	protoHTTP2
)

// connInfo is what the drain knows about one connection.
//
// Each request changes its state twice, from the connection's own
// goroutine, so that goes through a lock of the connection's own, which
// the handoffConn reaches without a look-up: a request takes no lock that
// other connections' requests take, and reads no clock unless the server
// drains. For a connection the drain wraps, that is the handoffConn's
// lock, which the same state change takes anyway: one lock, not two.
//
// The connInfo is also the connection's context, which net/http's
// ConnContext hook returns (see install): a handler finds it in one
// step, with no node of its own in the chain. For a connection the drain
// wraps it lives inside the handoffConn (its info), so that what a
// request reads of both is four cache lines of one object rather than
// lines of three (see handoffConn).
type connInfo struct {
	// What every request reads or writes comes first.
	state http.ConnState
	// proto is learned from the TLS handshake, or else from the first
	// request that reaches the handler.
	proto  atomic.Int32
	ticket uint64    // orders the silent connections, the longest silent first
	since  time.Time // when it went silent, if known; zero: before the drain began
	// cw wraps the responses of HTTP/1 requests, which on one connection
	// come one at a time: it is reused rather than allocated for each.
	cw closeWriter
	hc *handoffConn // the conn, if the drain can move it; set once

	mu sync.Mutex // guards state, since and ticket, unless hc is set: see lock

	// Guarded by Server.mu.
	closing bool          // the drain closed it and waits for net/http to notice
	goaway  bool          // the drain has sent GOAWAY since it knew this is HTTP/2
	offset  time.Duration // its share of the close window
	// inputTicket is the ticket of the silence in which the drain saw a
	// request wait in its socket: net/http reads it, and the connection
	// stays silent until the header is parsed, with nothing left to see.
	inputTicket uint64

	// parent is the context ConnContext was given, set before the
	// connInfo is shared; nil if connState made it (ConnContext was
	// replaced after New), and then it is no context.
	parent context.Context
}

// The connInfo as a context: its parent's, with the connInfo under
// connInfoKey.

func (ci *connInfo) Deadline() (time.Time, bool) { return ci.parent.Deadline() }
func (ci *connInfo) Done() <-chan struct{}       { return ci.parent.Done() }
func (ci *connInfo) Err() error                  { return ci.parent.Err() }

func (ci *connInfo) Value(key any) any {
	if _, ok := key.(connInfoKey); ok {
		return ci
	}
	return ci.parent.Value(key)
}

func (ci *connInfo) String() string { return fmt.Sprint(ci.parent) + ".WithValue(drain.connInfo)" }

// connView is a connection's state as one look of the drain saw it.
type connView struct {
	state  http.ConnState
	since  time.Time
	ticket uint64
}

// lock is the mutex that guards state, since and ticket: the
// handoffConn's, if the drain wraps the connection (hc is set before the
// connInfo is shared, and never changes), else the connInfo's own.
func (ci *connInfo) lock() *sync.Mutex {
	if ci.hc != nil {
		return &ci.hc.mu
	}
	return &ci.mu
}

// view returns the connection's state.
func (ci *connInfo) view() connView {
	mu := ci.lock()
	mu.Lock()
	defer mu.Unlock()
	return connView{ci.state, ci.since, ci.ticket}
}

// setState records that the connection entered st.
func (d *Server) setState(ci *connInfo, st http.ConnState) {
	ticket, since := d.silentSince(st)
	mu := ci.lock()
	mu.Lock()
	ci.record(st, ticket, since)
	mu.Unlock()
}

// silentSince gives a connection that enters st, if silent, a ticket, so
// that the drain knows which has been silent longest; only while the
// drain runs does it need to know since when (before, the drain counts
// its grace from its own start).
func (d *Server) silentSince(st http.ConnState) (ticket uint64, since time.Time) {
	if silent(st) {
		ticket = d.tickets.Add(1)
		if st == http.StateNew || d.draining.Load() {
			since = time.Now()
		}
	}
	return ticket, since
}

// record sets the state, and the ticket and since of a silent one. Called
// with ci.lock() held.
func (ci *connInfo) record(st http.ConnState, ticket uint64, since time.Time) {
	ci.state = st
	if ticket != 0 {
		ci.since, ci.ticket = since, ticket
	}
}

// connInfoKey carries a connection's *connInfo in its requests' contexts,
// which is how a handler learns which connection a request came on.
type connInfoKey struct{}

// install chains the drain's hooks onto the http.Server.
func (d *Server) install() {
	prevState := d.srv.ConnState
	d.srv.ConnState = func(c net.Conn, st http.ConnState) {
		if hc, ok := c.(*handoffConn); ok && hc.ci != nil && (st == http.StateActive || st == http.StateIdle) {
			d.requestState(hc, st)
		} else {
			if tc, ok := c.(interface{ tracked() net.Conn }); ok {
				c = tc.tracked() // net/http's HTTP/2 server reports the h2Conn
			}
			d.connState(c, st)
		}
		if prevState != nil {
			prevState(c, st)
		}
	}
	prevContext := d.srv.ConnContext
	d.srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prevContext != nil {
			if ctx = prevContext(ctx, c); ctx == nil {
				return nil // net/http reports the caller's mistake
			}
		}
		ci, fresh := d.track(ctx, c)
		if !fresh {
			return context.WithValue(ctx, connInfoKey{}, ci)
		}
		return ci
	}
	h := d.srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	d.srv.Handler = d.wrap(h)
}

// track records a connection net/http has just accepted, in whose
// context ctx it is served. Its since is known, for a new TLS
// connection's handshake gets its own time (see silence); that is a clock
// read for each connection, not each request. fresh reports whether the
// connInfo is new, with ctx as its parent; else the connection was
// tracked already.
func (d *Server) track(ctx context.Context, c net.Conn) (ci *connInfo, fresh bool) {
	hc, _ := c.(*handoffConn)
	d.mu.Lock()
	defer d.mu.Unlock()
	if old := d.conns[c]; old != nil {
		return old, false
	}
	if hc != nil && hc.ci == nil {
		ci = &hc.info
	} else {
		ci = new(connInfo)
	}
	ci.state, ci.since, ci.ticket = http.StateNew, time.Now(), d.tickets.Add(1)
	ci.hc, ci.parent = hc, ctx
	d.conns[c] = ci
	if hc != nil {
		// net/http calls ConnContext before it starts the connection's
		// goroutine, which reads this.
		hc.ci = ci
	}
	return ci, true
}

// connState is the http.Server.ConnState hook.
func (d *Server) connState(c net.Conn, st http.ConnState) {
	hc, _ := c.(*handoffConn)
	var ci *connInfo
	switch {
	case st == http.StateHijacked || st == http.StateClosed:
		d.mu.Lock()
		ci = d.conns[c]
		delete(d.conns, c)
		d.mu.Unlock()
	case hc != nil && hc.ci != nil && st != http.StateNew:
		// The common case, once for each state change of each request.
		ci = hc.ci
		d.setState(ci, st)
	default:
		d.mu.Lock()
		ci = d.conns[c]
		if ci == nil { // ConnContext was replaced after New
			ci = &connInfo{}
			d.conns[c] = ci
		}
		d.mu.Unlock()
		if st != http.StateNew || ci.ticket == 0 {
			d.setState(ci, st)
		}
	}

	if hc != nil {
		proto := protoUnknown
		if ci != nil {
			proto = ci.proto.Load()
		}
		hc.setState(st, proto)
	}

	// The handshake is over once a connection is active or idle; before,
	// ConnectionState would block until it is.
	if ci != nil && (st == http.StateActive || st == http.StateIdle) && ci.proto.Load() == protoUnknown {
		if tc, ok := c.(*tls.Conn); ok {
			proto := protoHTTP1
			if tc.ConnectionState().NegotiatedProtocol == "h2" {
				proto = protoHTTP2
			}
			ci.proto.Store(proto)
		}
	}

	if d.draining.Load() {
		d.poke()
	}
}

// requestState is connState for what every keep-alive request does
// twice: a plaintext connection the drain tracks turns active or idle.
// It takes one lock, the connection's.
func (d *Server) requestState(hc *handoffConn, st http.ConnState) {
	ci := hc.ci
	ticket, since := d.silentSince(st)
	hc.mu.Lock()
	ci.record(st, ticket, since)
	hc.setStateLocked(st, ci.proto.Load())
	hc.mu.Unlock()
	if d.draining.Load() {
		d.poke()
	}
}

// poke wakes the drain loop to look at the connections again.
func (d *Server) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// inputRecheck is how soon the drain looks again at a connection it would
// have closed but whose request waits unread in its socket.
const inputRecheck = 10 * time.Millisecond

// sweepResult is what one look at the connections found.
type sweepResult struct {
	left     int        // HTTP/1 connections open, including silent
	silent   []net.Conn // HTTP/1 connections to close now
	next     time.Time  // when the next one's grace ends; zero if none waits
	newHTTP2 bool       // some connection is known to be HTTP/2 since the last look
}

// sweep marks the HTTP/1 connections whose silence has lasted long enough
// as closing and returns them, to be closed outside the lock.
func (d *Server) sweep(now time.Time) sweepResult {
	d.mu.Lock()
	defer d.mu.Unlock()
	var r sweepResult
	for c, ci := range d.conns {
		if ci.closing {
			r.left++
			continue
		}
		v := ci.view()
		if d.isHTTP2(c, ci, v.state) {
			if !ci.goaway {
				ci.goaway, r.newHTTP2 = true, true
			}
			continue
		}
		r.left++
		// An active connection's reply carries "Connection: close".
		if !silent(v.state) {
			continue
		}
		end := d.closeAt(c, ci, v)
		if !now.Before(end) {
			switch {
			case hasInput(c):
				// Its request has arrived, and net/http reads it soon.
				ci.inputTicket = v.ticket
				end = now.Add(inputRecheck)
			case ci.inputTicket == v.ticket:
				// net/http has read the request that waited, and parses
				// it: the connection turns active once it has.
				end = now.Add(inputRecheck)
			case ci.hc != nil && ci.hc.spared():
				// It moves to another server.
				end = now.Add(inputRecheck)
			}
		}
		if now.Before(end) {
			if r.next.IsZero() || end.Before(r.next) {
				r.next = end
			}
			continue
		}
		ci.closing = true
		r.silent = append(r.silent, c)
	}
	return r
}

// silent reports whether a connection in state st waits for a request: a
// close then races the client's next request.
func silent(st http.ConnState) bool {
	return st == http.StateNew || st == http.StateIdle
}

// closeAt is when the drain closes c if it stays silent. Its silence must
// have lasted long enough, and so must the drain: a connection idle long
// before the drain began is one its client may take from its pool at any
// moment, and more likely so as the handover slows the client down. It
// gets its grace after the drain began to be used once more, and its
// share of the close window after that; time the drain stood still does
// not count. Called with d.mu held.
func (d *Server) closeAt(c net.Conn, ci *connInfo, v connView) time.Time {
	end := v.since.Add(d.silence(c, v.state))
	if floor := d.drainStart.Add(d.grace); end.Before(floor) {
		end = floor
	}
	return end.Add(ci.offset + d.stalled)
}

// spreadCloses gives the connections silent as the drain begins their
// shares of the close window, the longest silent first, so that those
// still silent at the end of their grace are not all closed at once.
func (d *Server) spreadCloses() {
	if d.window <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	type waiter struct {
		ci     *connInfo
		ticket uint64
	}
	var waiting []waiter
	for c, ci := range d.conns {
		v := ci.view()
		if !ci.closing && silent(v.state) && !d.isHTTP2(c, ci, v.state) {
			waiting = append(waiting, waiter{ci, v.ticket})
		}
	}
	slices.SortFunc(waiting, func(a, b waiter) int { return cmp.Compare(a.ticket, b.ticket) })
	for i, w := range waiting {
		w.ci.offset = d.window * time.Duration(i) / time.Duration(len(waiting))
	}
}

// silence is how long c may stay silent before the drain closes it. A new
// TLS connection may still be in its handshake, which on a busy machine
// can take longer than IdleGrace; closing it then would fail the request
// its client is about to send. It gets until the server's own limit for
// reading a request's header, when that is longer.
func (d *Server) silence(c net.Conn, st http.ConnState) time.Duration {
	if st != http.StateNew {
		return d.grace
	}
	if _, isTLS := c.(*tls.Conn); !isTLS {
		return d.grace
	}
	limit := d.srv.ReadHeaderTimeout
	if limit <= 0 {
		limit = d.srv.ReadTimeout
	}
	return max(d.grace, limit)
}

// isHTTP2 reports whether c speaks HTTP/2, which http.Server.Shutdown
// drains with GOAWAY; st is its state. Called with d.mu held.
func (d *Server) isHTTP2(c net.Conn, ci *connInfo, st http.ConnState) bool {
	switch ci.proto.Load() {
	case protoHTTP2:
		return true
	case protoHTTP1:
		return false
	}
	// An HTTP/1 connection goes idle only after a request went through the
	// handler, which records the protocol. net/http's HTTP/2 server reports
	// a connection idle as soon as it takes it over, so an idle connection
	// of unknown protocol is unencrypted HTTP/2.
	if _, isTLS := c.(*tls.Conn); d.h2c && !isTLS && st == http.StateIdle {
		ci.proto.Store(protoHTTP2)
		return true
	}
	return false
}
