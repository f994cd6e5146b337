package flipdhttp

import (
	"context"
	"sync"

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
}

func newH3Conns(newServer func(started func()) *http3.Server) *h3Conns {
	return &h3Conns{newServer: newServer, conns: map[*h3Served]struct{}{}}
}

// serve accepts connections until ln closes, each served by its own
// server; during a drain each is told GOAWAY as soon as it is served.
func (h *h3Conns) serve(ln *quic.EarlyListener) {
	for {
		c, err := ln.Accept(context.Background())
		if err != nil {
			return
		}
		s := &h3Served{conn: c, started: make(chan struct{})}
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
			go s.shutdown(draining)
		}
	}
}

// shutdown tells the connection GOAWAY once its server handles it (a
// server shut down before would refuse it), lets its streams finish,
// and closes it when ctx ends.
func (s *h3Served) shutdown(ctx context.Context) {
	select {
	case <-s.started:
	case <-s.conn.Context().Done():
		return
	case <-ctx.Done():
		s.conn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "drained")
		return
	}
	s.srv.Shutdown(ctx)
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
		go s.shutdown(ctx)
	}
}

// wait waits until the connections served so far have ended.
func (h *h3Conns) wait() { h.wg.Wait() }
