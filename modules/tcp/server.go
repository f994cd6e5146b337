package tcp

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
)

func init() {
	flipd.RegisterModule(new(Server))
}

// Server is the "tcp" listener module: it accepts plain TCP connections
// (or whatever the listener's wrappers make of them, TLS say) and hands
// each one to a handler.
//
//	{"address": "tcp/127.0.0.1:7000", "module": "tcp", "handle": {"module": "echo"}, "idle_timeout": "5m"}
//
// On a handover it stops accepting at once (the new generation accepts
// on the same socket from then on) and lets the connections it holds end
// by themselves, since plain TCP has no way to ask a peer to leave. Those
// still open when the drain's deadline passes are closed.
type Server struct {
	// Handle chooses the handler that serves each connection: an
	// object whose "module" key names a module of namespace
	// "tcp.handlers" ("echo", "proxy", your own), and whose other keys
	// are that handler's fields. Required.
	//
	//	"handle": {"module": "proxy", "upstream": "127.0.0.1:9000"}
	Handle json.RawMessage `json:"handle"`

	// MaxConns caps how many connections are served at once. When the
	// cap is reached the listener stops accepting, so further clients
	// wait in the kernel's accept queue (or are refused once it is
	// full) until a connection closes. Default: 0, no cap.
	MaxConns int `json:"max_conns,omitempty"`

	// IdleTimeout closes a connection through which no byte has moved,
	// in either direction, for that long: "5m", "30s". A read or a
	// write that is blocked does not count as activity, so a peer that
	// stops reading is caught as well as one that stops writing. The
	// check runs about once per IdleTimeout, so a connection may
	// outlive its limit by up to that much again. Default: no timeout.
	IdleTimeout flipd.Duration `json:"idle_timeout,omitempty"`

	handler Handler
	logger  hclog.Logger

	setup sync.Once
	conns *flipd.ConnServer // the accept loop, tracking and drain
}

// FlipdModule returns the module's ID, "listeners.tcp".
func (*Server) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "listeners.tcp", New: func() flipd.Module { return new(Server) }}
}

// Provision loads the handler named by Handle.
func (s *Server) Provision(ctx flipd.Context) error {
	s.logger = ctx.Logger()
	mod, err := ctx.LoadModule(HandlersNamespace, s.Handle)
	if err != nil {
		return fmt.Errorf("\"handle\": %w", err)
	}
	h, ok := mod.(Handler)
	if !ok {
		return fmt.Errorf("\"handle\": module %s has no Handle method, so it cannot serve connections", mod.FlipdModule().ID)
	}
	s.handler = h
	return nil
}

// Validate checks the limits.
func (s *Server) Validate() error {
	if s.MaxConns < 0 {
		return fmt.Errorf("\"max_conns\" is %d: use 0 for no cap, or a positive number", s.MaxConns)
	}
	if s.IdleTimeout < 0 {
		return fmt.Errorf("\"idle_timeout\" is %s: use a positive duration, or leave it out for none", s.IdleTimeout)
	}
	return nil
}

// loop returns the runtime's accept loop for this server, made on first
// use with the server's settings.
func (s *Server) loop() *flipd.ConnServer {
	s.setup.Do(func() {
		logger := s.logger
		if logger == nil {
			logger = hclog.NewNullLogger()
		}
		var h flipd.ConnHandler = serveConn{s}
		if m, ok := s.handler.(MovableHandler); ok {
			h = movableConn{serveConn{s}, m}
		}
		s.conns = &flipd.ConnServer{Handler: h, MaxConns: s.MaxConns, Logger: logger}
		if d, ok := s.handler.(Drainer); ok {
			s.conns.OnDrain = d.Drain
		}
	})
	return s.conns
}

// Interface guards.
var (
	_ flipd.ListenerModule = (*Server)(nil)
	_ flipd.ConnCounter    = (*Server)(nil)
	_ flipd.Provisioner    = (*Server)(nil)
	_ flipd.Validator      = (*Server)(nil)
	_ flipd.ConnMover      = (*Server)(nil)
)
