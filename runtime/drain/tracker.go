package drain

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// The protocol a connection speaks, learned once.
const (
	protoUnknown int32 = iota
	protoHTTP1
	protoHTTP2
)

// connInfo is what the drain knows about one connection. All fields but
// proto are guarded by Server.mu.
type connInfo struct {
	state   http.ConnState
	since   time.Time // when the connection entered state
	closing bool      // the drain closed it and waits for net/http to notice

	// proto is learned from the TLS handshake, or else from the first
	// request that reaches the handler.
	proto atomic.Int32
}

// connInfoKey carries a connection's *connInfo in its requests' contexts,
// which is how a handler learns which connection a request came on.
type connInfoKey struct{}

// install chains the drain's hooks onto the http.Server.
func (d *Server) install() {
	prevState := d.srv.ConnState
	d.srv.ConnState = func(c net.Conn, st http.ConnState) {
		d.connState(c, st)
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
		return context.WithValue(ctx, connInfoKey{}, d.track(c))
	}
	h := d.srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	d.srv.Handler = d.wrap(h)
}

// track records a connection net/http has just accepted.
func (d *Server) track(c net.Conn) *connInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	ci := d.conns[c]
	if ci == nil {
		ci = &connInfo{state: http.StateNew, since: time.Now()}
		d.conns[c] = ci
	}
	return ci
}

// connState is the http.Server.ConnState hook.
func (d *Server) connState(c net.Conn, st http.ConnState) {
	now := time.Now()
	d.mu.Lock()
	ci := d.conns[c]
	switch st {
	case http.StateHijacked, http.StateClosed:
		delete(d.conns, c)
	default:
		if ci == nil { // ConnContext was replaced after New
			ci = &connInfo{}
			d.conns[c] = ci
		}
		ci.state, ci.since = st, now
	}
	d.mu.Unlock()

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
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// sweep marks the HTTP/1 connections silent for the grace period as
// closing and returns them, to be closed outside the lock. It reports how
// many HTTP/1 connections are left, including those, and when the next
// one's grace period ends (zero if none is waiting).
func (d *Server) sweep(now time.Time) (left int, silent []net.Conn, next time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for c, ci := range d.conns {
		if ci.closing {
			left++
			continue
		}
		if d.isHTTP2(c, ci) {
			continue
		}
		left++
		// An active connection's reply carries "Connection: close".
		if ci.state != http.StateNew && ci.state != http.StateIdle {
			continue
		}
		end := ci.since.Add(d.silence(c, ci))
		if now.Before(end) {
			if next.IsZero() || end.Before(next) {
				next = end
			}
			continue
		}
		ci.closing = true
		silent = append(silent, c)
	}
	return left, silent, next
}

// silence is how long c may stay silent before the drain closes it. A new
// TLS connection may still be in its handshake, which on a busy machine
// can take longer than IdleGrace; closing it then would fail the request
// its client is about to send. It gets until the server's own limit for
// reading a request's header, when that is longer.
func (d *Server) silence(c net.Conn, ci *connInfo) time.Duration {
	if ci.state != http.StateNew {
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
// drains with GOAWAY. Called with d.mu held.
func (d *Server) isHTTP2(c net.Conn, ci *connInfo) bool {
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
	if _, isTLS := c.(*tls.Conn); d.h2c && !isTLS && ci.state == http.StateIdle {
		ci.proto.Store(protoHTTP2)
		return true
	}
	return false
}
