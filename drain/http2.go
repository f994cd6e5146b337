package drain

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"time"
)

// HTTP/2 connections are drained with GOAWAY, which must be sent when the
// drain begins. net/http sends it only from http.Server.Shutdown, which
// the drain cannot call before the HTTP/1 connections are gone: Shutdown
// also closes idle HTTP/1 connections at once and drops requests it has
// just read. And net/http sends only the final GOAWAY of RFC 9113 §6.8,
// which names the last stream the server has read: the streams the client
// sent meanwhile are refused, and a client that does not retry them fails
// them.
//
// So every HTTP/2 connection gets an HTTP/2 server of its own, configured
// by net/http on an otherwise unused http.Server (the per-connection
// HTTP/2 settings still come from the served http.Server and its HTTP2
// field), and is served through an h2Conn. When the drain begins, the
// h2Conn sends the shutdown notice, a GOAWAY naming the largest stream
// ID, and a PING; once the client answers the PING, or pingAnswerWait has
// passed, the unused server's Shutdown, which has no listener and no
// connection but this one, has net/http send the final GOAWAY. It names
// every stream the client opened before it saw the notice.

// pingAnswerWait bounds the wait for the answer to the notice's PING: a
// round trip, with room for a busy machine. A client that does not answer
// in time gets the final GOAWAY all the same, as it would have without
// the notice.
const pingAnswerWait = time.Second

// unencryptedHTTP2 is the TLSNextProto key under which net/http passes
// HTTP/2 connections without TLS (h2c with prior knowledge) to its HTTP/2
// server, in a *tls.Conn whose NetConn has an UnencryptedNetConn method.
const unencryptedHTTP2 = "unencrypted_http2"

// installHTTP2 sets up the HTTP/2 drain described above, unless the caller
// configured HTTP/2 itself (a non-nil TLSNextProto, as
// golang.org/x/net/http2.ConfigureServer leaves it, or as the historic way
// to disable HTTP/2 does) or HTTP/2 is disabled. It returns the model of
// the unused servers, or nil.
func (d *Server) installHTTP2() *http.Server {
	srv := d.srv
	if srv.TLSNextProto != nil {
		return nil
	}
	h2 := &http.Server{
		Protocols: srv.Protocols,
		// The HTTP/2 server takes its idle timeout from these.
		IdleTimeout: srv.IdleTimeout,
		ReadTimeout: srv.ReadTimeout,
		ErrorLog:    log.New(io.Discard, "", 0),
	}
	if srv.TLSConfig != nil {
		h2.TLSConfig = srv.TLSConfig.Clone() // HTTP/2 checks its cipher suites
	}
	// ServeTLS configures HTTP/2 on h2 before anything else, whatever its
	// TLSConfig, then fails: there is no certificate, or no connection to
	// accept.
	h2.ServeTLS(noListener{}, "", "")
	if h2.TLSNextProto["h2"] == nil || h2.TLSNextProto[unencryptedHTTP2] == nil {
		return nil // HTTP/2 is disabled, or its configuration failed: Serve says why
	}
	srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){
		"h2": func(hs *http.Server, tc *tls.Conn, h http.Handler) {
			d.serveHTTP2(hs, tc, tc, h)
		},
		unencryptedHTTP2: func(hs *http.Server, tc *tls.Conn, h http.Handler) {
			uc, ok := tc.NetConn().(interface{ UnencryptedNetConn() net.Conn })
			if !ok { // not from net/http: let its HTTP/2 server say so
				h2.TLSNextProto[unencryptedHTTP2](hs, tc, h)
				return
			}
			d.serveHTTP2(hs, uc.UnencryptedNetConn(), nil, h)
		},
	}
	return h2
}

// serveHTTP2 serves one HTTP/2 connection, c, through an h2Conn and an
// HTTP/2 server of its own; tc is c over TLS, nil for h2c. It returns
// when the connection is done.
func (d *Server) serveHTTP2(hs *http.Server, c net.Conn, tc *tls.Conn, h http.Handler) {
	spare := &http.Server{
		Protocols:   d.h2.Protocols,
		IdleTimeout: d.h2.IdleTimeout,
		ReadTimeout: d.h2.ReadTimeout,
		ErrorLog:    d.h2.ErrorLog,
	}
	// Serve configures HTTP/2 on spare, then fails: no connection to accept.
	spare.Serve(noListener{})
	serve := spare.TLSNextProto[unencryptedHTTP2]

	hc := newH2Conn(c, tc != nil)
	var served net.Conn = hc
	if tc != nil {
		// The HTTP/2 server takes only a *tls.Conn that it may read, or a
		// net.Conn handed over as unencrypted; it reads the preface then
		// from the h2Conn, and the TLS state from ConnectionState.
		served = h2TLSConn{hc, tc}
	}
	d.addHTTP2(hc, c, spare)
	defer d.removeHTTP2(hc)
	serve(hs, tls.Client(unencryptedConn{conn: served}, nil), h)
}

// unencryptedConn carries a connection to net/http's HTTP/2 server under the
// unencrypted key, which takes it out again with UnencryptedNetConn.
type unencryptedConn struct {
	net.Conn // nil: only conn is used
	conn     net.Conn
}

func (h unencryptedConn) UnencryptedNetConn() net.Conn { return h.conn }

// addHTTP2 records an HTTP/2 connection; if the drain has begun, it
// starts draining it at once.
func (d *Server) addHTTP2(hc *h2Conn, c net.Conn, spare *http.Server) {
	d.mu.Lock()
	d.h2conns[hc] = spare
	if ci := d.conns[c]; ci != nil {
		ci.proto.Store(protoHTTP2)
	}
	draining := d.draining.Load()
	d.mu.Unlock()
	if draining {
		d.drainHTTP2(hc, spare)
	}
}

func (d *Server) removeHTTP2(hc *h2Conn) {
	d.mu.Lock()
	delete(d.h2conns, hc)
	d.mu.Unlock()
}

// goaway starts draining every HTTP/2 connection that has not begun yet;
// it returns at once, and the connections close once their streams are
// done. It may be called again for connections that began HTTP/2 since.
func (d *Server) goaway() {
	if d.h2 == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for hc, spare := range d.h2conns {
		d.drainHTTP2(hc, spare)
	}
}

// drainHTTP2 sends hc the shutdown notice and, once its client has
// answered the PING, has spare's HTTP/2 server send the final GOAWAY. It
// does so once per connection, from a goroutine of its own.
func (d *Server) drainHTTP2(hc *h2Conn, spare *http.Server) {
	if !hc.draining.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer close(hc.final)
		if hc.sendNotice() {
			timer := time.NewTimer(pingAnswerWait)
			defer timer.Stop()
			select {
			case <-hc.answered:
			case <-timer.C:
				d.log.Debug("no answer to the shutdown notice's PING; sending the final GOAWAY", "remote", hc.RemoteAddr(), "waited", pingAnswerWait)
			case <-hc.closed:
				return
			}
		}
		// Nothing to wait for: spare has no listener and no connection
		// but hc, and GOAWAY is sent from hc's own goroutine.
		spare.Shutdown(context.Background())
	}()
}

// waitHTTP2 returns once every HTTP/2 connection has had its final
// GOAWAY, or is closed. The drain must wait for it before it shuts the
// http.Server down: from then on, net/http's HTTP/2 server sends its final
// GOAWAY on its own, whenever a connection has no stream open, without
// waiting for the answer to the notice.
func (d *Server) waitHTTP2(ctx context.Context) error {
	for {
		var waiting *h2Conn
		d.mu.Lock()
		for hc := range d.h2conns {
			select {
			case <-hc.final:
			case <-hc.closed:
			default:
				waiting = hc
			}
			if waiting != nil {
				break
			}
		}
		d.mu.Unlock()
		if waiting == nil {
			return nil
		}
		select {
		case <-waiting.final:
		case <-waiting.closed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// noListener is a listener that fails at once.
type noListener struct{}

var errNoListener = errors.New("drain: no listener")

func (noListener) Accept() (net.Conn, error) { return nil, errNoListener }
func (noListener) Close() error              { return nil }
func (noListener) Addr() net.Addr            { return &net.TCPAddr{} }
