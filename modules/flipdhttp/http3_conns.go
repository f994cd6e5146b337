package flipdhttp

import (
	"context"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// h3Conns serves each HTTP/3 connection with an http3.Server of its own,
// so that a drain can tell every connection GOAWAY, including those
// accepted after it began. http3.Server stops accepting when it shuts
// down, and a connection whose handshake completes after that (it
// straddled the handover, or no successor reads the socket) would sit in
// the listener's queue unserved: its requests hang until the client
// gives up, and closing the listener refuses it.
type h3Conns struct {
	newServer func(started func()) *http3.Server
	idle      *h3Idle

	mu       sync.Mutex
	conns    map[*h3Served]struct{}
	draining context.Context // set when the drain begins; its end closes what is left
	wg       sync.WaitGroup
}

// h3Served is one connection and its server.
type h3Served struct {
	srv     *http3.Server
	conn    *quic.Conn
	started chan struct{} // the server handles conn: Shutdown sends it GOAWAY
	since   time.Time     // accepted
}

// goawayMinAge is how long a connection is served before a drain tells
// it GOAWAY. Streams a client opens before it reads the GOAWAY are
// refused (H3_REQUEST_REJECTED), and quic-go's client retries such a
// request once, on a new connection: if that one were told GOAWAY as
// soon (upgrades close together), the retry would be refused too. A
// connection's first second is thus its own, whatever upgrades happen.
const goawayMinAge = time.Second

func newH3Conns(idle *h3Idle, newServer func(started func()) *http3.Server) *h3Conns {
	return &h3Conns{newServer: newServer, idle: idle, conns: map[*h3Served]struct{}{}}
}

// serve accepts connections until ln closes, each served by its own
// server; during a drain each is told GOAWAY as soon as it is served.
func (h *h3Conns) serve(ln *quic.EarlyListener) {
	for {
		c, err := ln.Accept(context.Background())
		if err != nil {
			return
		}
		s := &h3Served{conn: c, started: make(chan struct{}), since: time.Now()}
		var once sync.Once
		s.srv = h.newServer(func() { once.Do(func() { close(s.started) }) })
		h.mu.Lock()
		h.conns[s] = struct{}{}
		h.wg.Add(1)
		draining := h.draining
		h.mu.Unlock()
		go func() {
			defer h.wg.Done()
			s.srv.ServeQUICConn(c)
			h.mu.Lock()
			delete(h.conns, s)
			h.mu.Unlock()
		}()
		if draining != nil {
			go s.shutdown(draining, h.idle)
		}
	}
}

// shutdown tells the connection GOAWAY once its server handles it (a
// server shut down before would refuse it) and it is goawayMinAge old,
// lets its streams finish, and closes it when ctx ends.
func (s *h3Served) shutdown(ctx context.Context, idle *h3Idle) {
	wait := time.NewTimer(time.Until(s.since.Add(goawayMinAge)))
	defer wait.Stop()
	if !s.await(ctx, s.started) {
		return
	}
	timer := make(chan struct{})
	go func() {
		select {
		case <-wait.C:
			close(timer)
		case <-s.conn.Context().Done():
		case <-ctx.Done():
		}
	}()
	if !s.await(ctx, timer) {
		return
	}
	idle.goaway(s.conn)
	s.srv.Shutdown(ctx)
}

// await waits for ready; false if the connection ended first, or ctx
// (which closes it).
func (s *h3Served) await(ctx context.Context, ready <-chan struct{}) bool {
	select {
	case <-ready:
		return true
	case <-s.conn.Context().Done():
		return false
	case <-ctx.Done():
		s.conn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "drained")
		return false
	}
}

// drain tells every connection, and every one accepted from now on,
// GOAWAY.
func (h *h3Conns) drain(ctx context.Context) {
	h.mu.Lock()
	h.draining = ctx
	all := make([]*h3Served, 0, len(h.conns))
	for s := range h.conns {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		go s.shutdown(ctx, h.idle)
	}
}

// wait waits until the connections served so far have ended.
func (h *h3Conns) wait() { h.wg.Wait() }
