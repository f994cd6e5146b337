package drain

import (
	"context"
	"errors"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
)

// HTTP/2 connections are drained with GOAWAY, which HTTP/2 clients handle
// without losing a request: streams the server has not begun are retried
// elsewhere. It must be sent when the drain begins. net/http sends it only
// from http.Server.Shutdown, which the drain cannot call before the
// HTTP/1 connections are gone: Shutdown also closes idle HTTP/1
// connections at once and drops requests it has just read.
//
// So the drain gives HTTP/2 its own, otherwise unused, http.Server: New
// has net/http configure its HTTP/2 server on that one and installs the
// result in the served http.Server's TLSNextProto. Every HTTP/2
// connection is then registered with that HTTP/2 server, and the unused
// server's Shutdown, which has no listener and no connection of its own,
// does nothing but send them all GOAWAY. The per-connection HTTP/2
// settings still come from the served http.Server (its HTTP2 field).

// installHTTP2 sets up the GOAWAY described above, unless the caller
// configured HTTP/2 itself (a non-nil TLSNextProto, as
// golang.org/x/net/http2.ConfigureServer leaves it, or as the historic way
// to disable HTTP/2 does) or HTTP/2 is disabled. It returns the server
// whose Shutdown sends GOAWAY, or nil.
func installHTTP2(srv *http.Server) *http.Server {
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
	if h2.TLSNextProto["h2"] == nil {
		return nil // HTTP/2 is disabled, or its configuration failed: Serve says why
	}
	srv.TLSNextProto = maps.Clone(h2.TLSNextProto)
	return h2
}

// goaway sends GOAWAY to every HTTP/2 connection that has not had it yet;
// it returns at once, and the connections close once their streams are
// done. It may be called again for connections that began HTTP/2 since.
func (d *Server) goaway() {
	if d.h2 != nil {
		// Nothing to wait for: h2 has no listener and no connection of
		// its own, and GOAWAY is sent from goroutines of its own.
		d.h2.Shutdown(context.Background())
	}
}

// noListener is a listener that fails at once.
type noListener struct{}

var errNoListener = errors.New("drain: no listener")

func (noListener) Accept() (net.Conn, error) { return nil, errNoListener }
func (noListener) Close() error              { return nil }
func (noListener) Addr() net.Addr            { return &net.TCPAddr{} }
