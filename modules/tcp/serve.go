package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	goruntime "runtime"
	"time"
)

// Accept errors such as EMFILE (too many open files) pass once
// connections close, so the accept loop waits and retries, as net/http
// does, instead of giving up on the listener.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
)

// Serve accepts connections on ln and serves each with the handler until
// Drain closes ln; it then returns nil. It may be called for several
// listeners at once. Called after Drain, it closes ln and returns nil.
func (s *Server) Serve(ln net.Listener) error {
	if s.handler == nil {
		return errors.New("tcp: Serve called before Provision: no handler")
	}
	s.init()
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	if s.lns == nil {
		s.lns = make(map[net.Listener]struct{})
	}
	s.lns[ln] = struct{}{}
	s.serving.Add(1)
	s.mu.Unlock()
	defer s.serving.Done()

	s.logger.Info("serving", "addr", ln.Addr().String())
	var delay time.Duration
	for {
		if !s.takeSlot() {
			return nil
		}
		c, err := ln.Accept()
		if err != nil {
			s.releaseSlot()
			if s.isDraining() {
				return nil
			}
			var ne net.Error
			// Temporary is deprecated for timeouts, but it is still how
			// EMFILE, ENFILE and ECONNABORTED report that a retry may work.
			if errors.As(err, &ne) && ne.Temporary() { //nolint:staticcheck
				delay = nextDelay(delay)
				s.logger.Warn("accept failed; retrying", "addr", ln.Addr().String(), "error", err, "delay", delay)
				if !s.sleep(delay) {
					return nil
				}
				continue
			}
			return fmt.Errorf("tcp: accepting on %s: %w", ln.Addr(), err)
		}
		delay = 0
		// Tracked before Serve goes back to Accept, so that a drain that
		// has waited for Serve to return sees every connection.
		conn := s.conns.Track(c)
		s.running.Add(1)
		s.handlers.Add(1)
		go s.serveConn(conn)
	}
}

// takeSlot waits for room under max_conns; false means the drain began.
func (s *Server) takeSlot() bool {
	if s.slots == nil {
		return !s.isDraining()
	}
	select {
	case s.slots <- struct{}{}:
		return true
	case <-s.stop:
		return false
	}
}

func (s *Server) releaseSlot() {
	if s.slots != nil {
		<-s.slots
	}
}

// sleep waits d; false means the drain began meanwhile.
func (s *Server) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.stop:
		return false
	}
}

func nextDelay(d time.Duration) time.Duration {
	if d == 0 {
		return minAcceptDelay
	}
	return min(2*d, maxAcceptDelay)
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// serveConn runs the handler on one tracked connection and closes it.
func (s *Server) serveConn(conn net.Conn) {
	defer s.running.Done()
	defer s.handlers.Add(-1)
	defer s.releaseSlot()
	ctx, cancel := context.WithCancel(s.base)
	defer cancel()
	client := conn.RemoteAddr().String()
	if s.IdleTimeout > 0 {
		idle := watchIdle(conn, time.Duration(s.IdleTimeout), func() {
			s.logger.Debug("closing idle connection", "client", client, "idle_timeout", s.IdleTimeout)
			cancel()
		})
		conn = idle
	}
	defer conn.Close()
	defer func() {
		if v := recover(); v != nil {
			buf := make([]byte, 64<<10)
			buf = buf[:goruntime.Stack(buf, false)]
			s.logger.Error("handler panicked", "client", client, "panic", v, "stack", string(buf))
		}
	}()
	if err := s.handler.Handle(ctx, conn); err != nil {
		s.logger.Debug("connection ended", "client", client, "error", err)
	}
}
