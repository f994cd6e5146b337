package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/drain"
	"github.com/flipd/flipd/engine"
)

// Timeouts of the admin HTTP server. There is no write timeout: a /load
// answers only when the new generation is ready, up to upgrade.timeout.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// Server is the admin API of one generation. It is a [flipd.Server],
// not a module (no config builds it): the runtime serves it on the admin
// address like a listener and drains it when the generation hands over
// or stops.
type Server struct {
	b       Backend
	log     hclog.Logger
	guard   *guard
	maxBody int64
	metrics http.Handler
	handler http.Handler
	drain   *drain.Server

	// successor is the generation a reload through this server handed
	// over to; stopping is set by POST /stop, which stops the backend once.
	successor atomic.Pointer[engine.ReloadResult]
	stopping  atomic.Bool
	stopOnce  sync.Once

	// lns are the listeners Serve accepts on; acceptStopped is set by
	// StopAccepting, which closes them.
	lnMu          sync.Mutex
	lns           map[net.Listener]struct{}
	acceptStopped bool
}

// New returns the admin API server for b, configured by cfg. The runtime
// opens the socket at cfg.Address() and hands it to [Server.Serve]; New
// only checks that the address is usable. A nil log discards the logs.
func New(b Backend, cfg engine.AdminConfig, log hclog.Logger) (*Server, error) {
	if b == nil {
		return nil, errors.New("admin: no backend")
	}
	addr, err := cfg.Address()
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("admin: max_body_bytes %d is negative", cfg.MaxBodyBytes)
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Server{
		b:       b,
		log:     log.Named("admin"),
		guard:   newGuard(addr, cfg),
		maxBody: cfg.MaxBodyBytes,
		metrics: newMetricsHandler(b),
	}
	if s.maxBody == 0 {
		s.maxBody = engine.DefaultAdminMaxBodyBytes
	}
	s.handler = s.logRequests(s.guard.wrap(s.routes()))
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          s.log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	s.drain = drain.New(srv, drain.Options{Logger: s.log})
	return s, nil
}

// Serve serves the admin API on ln until [Server.Drain], then returns nil.
func (s *Server) Serve(ln net.Listener) error {
	if s.drain == nil {
		return errors.New("admin: Serve on a Server not made by New")
	}
	s.guard.listening(ln.Addr())
	if !s.track(ln) {
		ln.Close()
		return nil
	}
	defer s.untrack(ln)
	s.log.Info("listening", "address", ln.Addr().String())
	err := s.drain.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) && s.stoppedAccepting() {
		return nil
	}
	return fmt.Errorf("admin: serving on %s: %w", ln.Addr(), err)
}

// track records ln, unless StopAccepting came first.
func (s *Server) track(ln net.Listener) bool {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if s.acceptStopped {
		return false
	}
	if s.lns == nil {
		s.lns = map[net.Listener]struct{}{}
	}
	s.lns[ln] = struct{}{}
	return true
}

func (s *Server) untrack(ln net.Listener) {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	delete(s.lns, ln)
}

// StopAccepting closes the listeners Serve accepts on, for good: the
// runtime calls it once a reload has handed over, before the reload is
// answered. The socket lives on in the new generation, which shares it:
// a connection the client opens after the answer is then accepted there,
// never by this generation (which would answer for a config it no
// longer serves, or 409 "already handed over"). The connections open
// here are served and drained as before, and Serve returns nil.
func (s *Server) StopAccepting() {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	s.acceptStopped = true
	for ln := range s.lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Warn("closing the admin listener after the handover", "address", ln.Addr(), "error", err)
		}
	}
}

func (s *Server) stoppedAccepting() bool {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	return s.acceptStopped
}

// Drain stops accepting, lets the requests in flight finish (a /load
// waiting for the new generation among them) and returns when no
// connection is left, or closes what is left when ctx ends.
func (s *Server) Drain(ctx context.Context) error {
	if s.drain == nil {
		return nil
	}
	return s.drain.Shutdown(ctx)
}

// OpenConns is how many connections the admin API holds open.
func (s *Server) OpenConns() int {
	if s.drain == nil {
		return 0
	}
	return s.drain.OpenConns()
}

// Handler is the admin API with its security checks, without the drain
// and the HTTP server's timeouts: for tests, or to mount it elsewhere.
// The Host check knows the admin port from the configured address, or
// from Serve when the config says port 0.
func (s *Server) Handler() http.Handler {
	return s.handler
}

// Interface guards.
var (
	_ flipd.Server       = (*Server)(nil)
	_ flipd.ConnCounter  = (*Server)(nil)
	_ flipd.SocketOpener = (*Server)(nil)
)
