package flipd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd/drain"
)

// Accept errors such as EMFILE (too many open files) pass once
// connections close, so the accept loop waits and retries, as net/http
// does, instead of giving up on the listener.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
)

// ConnServer is the accept loop the runtime runs for a listener module
// that is a [ConnHandler]: it accepts, tracks each connection before its
// goroutine starts (so that a drain cannot miss one), serves it with the
// handler, backs off on temporary accept errors and stops on permanent
// ones, and drains. A listener module with settings of its own (a cap on
// connections, say) can run one itself and be a [ListenerModule] whose
// Serve and Drain call the ConnServer's, as modules/tcp does.
//
// Set the fields before the first Serve or Drain; do not copy a
// ConnServer after that. A ConnServer serves one generation: once
// drained, it does not serve again.
type ConnServer struct {
	// Handler serves each connection. Required.
	Handler ConnHandler
	// MaxConns caps how many connections are served at once: at the
	// cap the loop stops accepting, and clients wait in the kernel's
	// accept queue. 0: no cap.
	MaxConns int
	// Logger receives accept errors, panics and, at debug level, the
	// error each connection ended with. Default: none.
	Logger hclog.Logger
	// OnDrain, if set, is called once when Drain has stopped accepting,
	// before it waits for the connections: the moment to ask clients to
	// leave. It must not block.
	OnDrain func()

	setup   sync.Once
	stop    chan struct{}      // closed when the drain starts
	base    context.Context    // parent of every connection's context
	cancel  context.CancelFunc // ends base: the drain's deadline passed
	slots   chan struct{}      // one token per connection served; nil without MaxConns
	conns   drain.Conns
	serving sync.WaitGroup // accept loops
	running sync.WaitGroup // connection goroutines
	sleep   func(time.Duration) bool

	mu       sync.Mutex
	draining bool
	lns      map[net.Listener]struct{}
	// sink and moving: MoveConns was called; moving is closed then.
	sink   ConnSink
	moving chan struct{}

	handlers atomic.Int64 // connection goroutines, for the drain's error
}

// init prepares what Serve and Drain share, whichever runs first.
func (s *ConnServer) init() {
	s.setup.Do(func() {
		s.stop = make(chan struct{})
		s.base, s.cancel = context.WithCancel(context.Background())
		s.moving = make(chan struct{})
		if s.MaxConns > 0 {
			s.slots = make(chan struct{}, s.MaxConns)
		}
		if s.Logger == nil {
			s.Logger = hclog.NewNullLogger()
		}
		if s.sleep == nil {
			s.sleep = s.wait
		}
	})
}

// Serve accepts connections on ln and serves each with the handler until
// Drain closes ln; it then returns nil. A temporary accept error (EMFILE,
// say) is logged and retried after a pause that doubles up to a second;
// any other ends Serve with that error, at once. Serve may run for
// several listeners at once. Called after Drain, it closes ln and
// returns nil.
func (s *ConnServer) Serve(ln net.Listener) error {
	if s.Handler == nil {
		return errors.New("ConnServer: Serve called without a Handler")
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

	s.Logger.Info("serving", "addr", ln.Addr().String())
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
				s.Logger.Warn("accept failed; retrying", "addr", ln.Addr().String(), "error", err, "delay", delay)
				if !s.sleep(delay) {
					return nil
				}
				continue
			}
			return fmt.Errorf("accepting on %s: %w", ln.Addr(), err)
		}
		delay = 0
		// Tracked here, before Serve goes back to Accept, and never in
		// the connection's goroutine: a drain that has waited for Serve
		// to return then sees every connection.
		conn := s.conns.Track(c)
		s.running.Add(1)
		s.handlers.Add(1)
		go s.run(conn, c, true, func(ctx context.Context) error { return s.Handler.ServeConn(ctx, conn) })
	}
}

// takeSlot waits for room under MaxConns; false means the drain began.
func (s *ConnServer) takeSlot() bool {
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

func (s *ConnServer) releaseSlot() {
	if s.slots != nil {
		<-s.slots
	}
}

// wait waits d; false means the drain began meanwhile.
func (s *ConnServer) wait(d time.Duration) bool {
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

func (s *ConnServer) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// run serves one tracked connection (raw is the one under it) with
// serve, moves it if the handler asks to, and closes it. slot: it holds
// a MaxConns slot.
func (s *ConnServer) run(conn, raw net.Conn, slot bool, serve func(context.Context) error) {
	defer s.running.Done()
	defer s.handlers.Add(-1)
	if slot {
		defer s.releaseSlot()
	}
	ctx, cancel := context.WithCancel(s.base)
	defer cancel()
	var moving <-chan struct{}
	if canMove(raw) {
		moving = s.moving
	}
	ctx = withMoving(ctx, moving)
	defer conn.Close()
	client := conn.RemoteAddr().String()
	defer func() {
		if v := recover(); v != nil {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			s.Logger.Error("handler panicked", "client", client, "panic", v, "stack", string(buf))
		}
	}()
	if err := s.moved(ctx, conn, raw, serve(ctx)); err != nil {
		s.Logger.Debug("connection ended", "client", client, "error", err)
	}
}

// OpenConns reports how many connections are open.
func (s *ConnServer) OpenConns() int { return s.conns.Len() }

// Interface guards.
var (
	_ Server      = (*ConnServer)(nil)
	_ ConnCounter = (*ConnServer)(nil)
	_ ConnMover   = (*ConnServer)(nil)
)
