package udp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
)

func init() {
	flipd.RegisterModule(new(Server))
}

// Server is the "udp" listener module: it reads the datagrams of a udp
// address and hands each one to a handler.
//
//	{"address": "udp/127.0.0.1:7000", "module": "udp", "handle": {"module": "echo"}}
type Server struct {
	// Handle chooses the handler that serves the datagrams: an object
	// whose "module" key names a module of namespace "udp.handlers"
	// ("echo", "proxy", your own), and whose other keys are that
	// handler's fields. Required.
	//
	//	"handle": {"module": "proxy", "upstream": "127.0.0.1:5353"}
	Handle json.RawMessage `json:"handle"`

	handler Handler
	logger  hclog.Logger

	mu       sync.Mutex
	pc       net.PacketConn
	draining bool
	loopDone chan struct{} // closed when ServePacket's loop ends
}

// maxDatagram is the largest UDP payload (over IPv4; IPv6 jumbograms
// aside).
const maxDatagram = 65507

// FlipdModule returns the module's ID, "listeners.udp".
func (*Server) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "listeners.udp", New: func() flipd.Module { return new(Server) }}
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
		return fmt.Errorf("\"handle\": module %s has no HandleDatagram method, so it cannot serve datagrams", mod.FlipdModule().ID)
	}
	s.handler = h
	return nil
}

// ServePacket reads pc and hands each datagram to the handler, until
// Drain stops it.
func (s *Server) ServePacket(pc net.PacketConn) error {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return nil
	}
	s.pc, s.loopDone = pc, make(chan struct{})
	done := s.loopDone
	s.mu.Unlock()
	defer close(done)
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err == nil {
			s.handler.HandleDatagram(pc, from, buf[:n])
			continue
		}
		if s.isDraining() {
			return nil
		}
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return fmt.Errorf("reading %s: %w", pc.LocalAddr(), err)
	}
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// Drain stops reading at once (the next generation reads the socket from
// now on), lets the handler finish (proxy sessions carry their last
// replies back through the socket), then closes this generation's copy of
// the socket.
func (s *Server) Drain(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	pc, done := s.pc, s.loopDone
	s.mu.Unlock()
	if pc == nil {
		return nil
	}
	// A deadline is this process's alone (Go keeps it in its poller), so
	// it stops this read loop and leaves the socket open for replies.
	pc.SetReadDeadline(time.Unix(1, 0))
	select {
	case <-done:
	case <-ctx.Done():
	}
	var err error
	if d, ok := s.handler.(Drainer); ok {
		err = d.Drain(ctx)
	}
	pc.Close()
	return err
}

// OpenSessions is how many sessions the handler holds, if it keeps any.
func (s *Server) OpenSessions() int {
	if c, ok := s.handler.(flipd.SessionCounter); ok {
		return c.OpenSessions()
	}
	return 0
}

// Interface guards.
var (
	_ flipd.PacketListenerModule = (*Server)(nil)
	_ flipd.SessionCounter       = (*Server)(nil)
	_ flipd.Provisioner          = (*Server)(nil)
)
