package flipdhttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/drain"
)

func init() {
	flipd.RegisterModule(new(Server))
}

// Defaults of the server's limits, used when a field is unset or zero.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 1 << 20
)

// Server is the "http" listener module (ID listeners.http): an HTTP
// server that sends each request to the first of its routes that matches.
//
// It speaks HTTP/1.1, and HTTP/2 where the client and the connection allow:
// over TLS (a "tls" listener wrapper) HTTP/2 is negotiated with ALPN when
// the wrapper offers "h2"; over plain TCP only when "h2c" is true.
//
// When a new generation takes over, the server drains without losing a
// request: it stops accepting, answers HTTP/1.1 requests in flight with
// "Connection: close", closes keep-alive connections once they have been
// silent for drain_idle_grace, and sends HTTP/2 clients a GOAWAY. When the
// runtime moves connections (the upgrade's "move_connections"), plaintext
// HTTP/1.1 keep-alive connections move to the new generation instead, as
// soon as they wait for a request (see [Server.MoveConns]), and are
// neither asked to close nor closed.
// Connections a handler took over (WebSocket and other Upgrade tunnels of
// reverse_proxy, or a handler's own hijack) count among its open
// connections and keep it draining until they close; as
// upgrade.drain_timeout nears, those still open are ended cleanly
// (reverse_proxy's WebSockets with a Close frame, status 1001, the
// others with a FIN), spread over upgrade.close_spread.
type Server struct {
	// Routes are tried in order for each request; the first whose matchers
	// all match handles it. A request no route matches is answered
	// 404 Not Found.
	Routes []Route `json:"routes,omitempty"`

	// ReadHeaderTimeout bounds the time to read a request's header, which
	// keeps slow clients from holding connections open. Default: "10s".
	ReadHeaderTimeout flipd.Duration `json:"read_header_timeout,omitempty"`

	// ReadTimeout bounds the time to read a whole request, body included.
	// Default: none, so that uploads may take as long as they need.
	ReadTimeout flipd.Duration `json:"read_timeout,omitempty"`

	// WriteTimeout bounds the time from the end of reading a request's
	// header to the end of writing its response. Default: none; a value
	// here cuts off every longer response, such as large downloads or
	// streams proxied from an upstream, so set it only if no route serves
	// such responses.
	WriteTimeout flipd.Duration `json:"write_timeout,omitempty"`

	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request before it is closed. Default: "2m".
	//
	// On a listener without wrappers (plaintext), with no read_timeout
	// and no h2c, the drain enforces this and read_header_timeout itself
	// when each is at least 2s (drain.Options.OwnTimeouts), which spares
	// every keep-alive request two clock reads: a connection is then cut
	// between its timeout and a second after it.
	IdleTimeout flipd.Duration `json:"idle_timeout,omitempty"`

	// MaxHeaderBytes limits the size of a request's header, request line
	// included; larger ones are answered 431. Default: 1048576 (1 MiB).
	MaxHeaderBytes int `json:"max_header_bytes,omitempty"`

	// H2C serves HTTP/2 over plain TCP to clients that start with the
	// HTTP/2 preface ("prior knowledge"), besides HTTP/1.1. The HTTP/1.1
	// "Upgrade: h2c" dance is not supported. Over TLS, HTTP/2 needs no
	// setting. Default: false.
	H2C bool `json:"h2c,omitempty"`

	// DrainIdleGrace is how long, while draining, an HTTP/1 keep-alive
	// connection must have been silent before it is closed, counted from
	// when the drain began at the earliest: a client that sends its next
	// request sooner is answered, with "Connection: close", instead of
	// racing the close. Default: "1s".
	DrainIdleGrace flipd.Duration `json:"drain_idle_grace,omitempty"`

	// HTTP3 also serves the routes over HTTP/3 (QUIC) on the UDP port of
	// the listener's address, with the certificates and session ticket
	// keys of its "tls" wrapper, which it needs; TCP responses then
	// carry "Alt-Svc: h3=\":PORT\"" so that browsers switch. QUIC
	// connections live on in their generation across an upgrade (see
	// package quicroute): they get an HTTP/3 GOAWAY, finish their
	// streams, and are closed once silent for drain_idle_grace, by
	// drain_timeout at the latest. Open QUIC connections count in
	// open_conns. Default: false
	// (Caddy serves HTTP/3 by default; here it opens a UDP socket, so it
	// is asked for).
	HTTP3 bool `json:"http3,omitempty"`

	// HTTP3Forward, when false, switches off what keeps QUIC connections
	// alive across an upgrade: the new generation drops the packets of
	// the connections an older one still serves instead of forwarding
	// them (package quicroute), so those connections die at every
	// upgrade. Only for benchmarks and tests that must show the
	// difference. Default: true
	HTTP3Forward *bool `json:"http3_forward,omitempty"`

	log     hclog.Logger
	drain   *drain.Server
	handler http.Handler
	h3      *h3
	tunnels *tunnelSet
}

// FlipdModule implements [flipd.Module].
func (*Server) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{
		ID:  "listeners.http",
		New: func() flipd.Module { return new(Server) },
	}
}

// Provision implements [flipd.Provisioner]: it checks the routes, loads
// their handlers and prepares the http.Server, without opening sockets.
func (s *Server) Provision(ctx flipd.Context) error {
	s.log = ctx.Logger()
	rs := make(router, len(s.Routes))
	for i := range s.Routes {
		if err := s.Routes[i].provision(ctx); err != nil {
			return fmt.Errorf("route %d: %w", i, err)
		}
		rs[i] = &s.Routes[i]
	}
	if len(rs) == 0 {
		s.log.Warn("no routes: every request will be answered 404")
	}

	s.h3 = &h3{}
	s.handler = rs
	var tcpHandler http.Handler = rs
	if s.HTTP3 {
		tcpHandler = s.h3.advertise(rs)
	}
	srv := &http.Server{
		Handler:           tcpHandler,
		ReadHeaderTimeout: s.ReadHeaderTimeout.Or(DefaultReadHeaderTimeout),
		ReadTimeout:       time.Duration(s.ReadTimeout),
		WriteTimeout:      time.Duration(s.WriteTimeout),
		IdleTimeout:       s.IdleTimeout.Or(DefaultIdleTimeout),
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		ErrorLog:          s.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}),
		Protocols:         new(http.Protocols),
	}
	s.tunnels = newTunnelSet(s.log)
	srv.BaseContext = func(net.Listener) context.Context {
		return context.WithValue(context.Background(), tunnelSetKey{}, s.tunnels)
	}
	if s.MaxHeaderBytes > 0 {
		srv.MaxHeaderBytes = s.MaxHeaderBytes
	}
	// HTTP2 covers TLS connections, whose listener offers "h2" by ALPN;
	// net/http's Serve hands those to its HTTP/2 server.
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	srv.Protocols.SetUnencryptedHTTP2(s.H2C)

	s.drain = drain.New(srv, drain.Options{
		IdleGrace:   time.Duration(s.DrainIdleGrace),
		CloseSpread: ctx.CloseSpread(),
		Logger:      s.log,
		// On a plaintext listener (no wrapper) the drain enforces the
		// header and idle timeouts: net/http then reads no clock for
		// them on each request. A tls wrapper keeps net/http's.
		OwnTimeouts: true,
	})
	return nil
}

// Validate implements [flipd.Validator].
func (s *Server) Validate() error {
	if s.MaxHeaderBytes < 0 {
		return fmt.Errorf("max_header_bytes: must not be negative, got %d", s.MaxHeaderBytes)
	}
	return nil
}

// Serve implements [flipd.ListenerModule]. It returns nil once Drain
// has closed ln.
func (s *Server) Serve(ln net.Listener) error {
	if s.drain == nil {
		return errors.New("http server: Serve called before Provision")
	}
	s.log.Debug("serving http", "addr", ln.Addr())
	if err := s.drain.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving http on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Drain implements [flipd.ListenerModule]: it stops accepting, lets the
// requests in flight finish, and returns once every connection is closed
// or ctx ends, whichever comes first.
func (s *Server) Drain(ctx context.Context) error {
	if s.drain == nil {
		return nil
	}
	h3err := make(chan error, 1)
	go func() { h3err <- s.h3.shutdown(ctx) }()
	return errors.Join(s.drain.Shutdown(ctx), <-h3err)
}

// OpenConns implements [flipd.ConnCounter].
func (s *Server) OpenConns() int {
	if s.drain == nil {
		return 0
	}
	return s.drain.OpenConns() + s.h3.openConns()
}

// Interface guards.
var (
	_ flipd.ListenerModule = (*Server)(nil)
	_ flipd.ConnCounter    = (*Server)(nil)
	_ flipd.Provisioner    = (*Server)(nil)
	_ flipd.Validator      = (*Server)(nil)
)
