package flipdhttp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/flipd/flipd/drain"
	"github.com/flipd/flipd/quicroute"
)

// altSvcMaxAge is how long clients may remember the HTTP/3 endpoint
// (Caddy and quic-go advertise 30 days too).
const altSvcMaxAge = 30 * 24 * time.Hour

// h3 is the HTTP/3 side of a Server: the same routes over QUIC, on the
// UDP port of the listener's TCP port.
type h3 struct {
	mu       sync.Mutex
	conns    *h3Conns
	ln       *quic.EarlyListener
	router   *quicroute.Router
	altSvc   string
	draining atomic.Bool
	done     chan struct{} // ServeListener returned
	idle     *h3Idle
	grace    time.Duration // drain_idle_grace
}

// WantsQUIC tells the runtime to open the UDP socket of this listener's
// port and call ServeQUIC ("http3": true).
func (s *Server) WantsQUIC() bool { return s.HTTP3 }

// QUICForwarding says whether the runtime's router forwards the packets
// of older generations' QUIC connections to them ("http3_forward",
// default true).
func (s *Server) QUICForwarding() bool { return s.HTTP3Forward == nil || *s.HTTP3Forward }

// ServeQUIC serves the routes over HTTP/3 on r's Transport, with the
// tls wrapper's certificates and session ticket keys, offering only
// "h3" by ALPN. It owns r from now on: Drain closes it.
func (s *Server) ServeQUIC(r *quicroute.Router, tlsConf *tls.Config) error {
	if s.h3 == nil || s.drain == nil {
		r.Close()
		return errors.New("http server: ServeQUIC called before Provision")
	}
	base := tlsConf
	conf := &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{http3.NextProtoH3},
		// A config per handshake from the wrapper's current one, so that
		// rotated ticket keys and renewed certificates apply.
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := base.Clone()
			c.MinVersion = tls.VersionTLS13
			c.NextProtos = []string{http3.NextProtoH3}
			return c, nil
		},
	}
	ln, err := r.Transport().ListenEarly(conf, &quic.Config{
		Allow0RTT:      true,
		MaxIdleTimeout: s.IdleTimeout.Or(DefaultIdleTimeout),
	})
	if err != nil {
		r.Close()
		return fmt.Errorf("listening for quic on %s: %w", r.Transport().Conn.LocalAddr(), err)
	}
	idle := newH3Idle()
	handler := idle.track(s.handler)
	conns := newH3Conns(idle, func(started func()) *http3.Server {
		return &http3.Server{
			Handler: handler,
			ConnContext: func(ctx context.Context, c *quic.Conn) context.Context {
				started()
				return idle.connContext(ctx, c)
			},
			MaxHeaderBytes: s.MaxHeaderBytes,
			IdleTimeout:    s.IdleTimeout.Or(DefaultIdleTimeout),
		}
	})
	port := 0
	if ua, ok := ln.Addr().(*net.UDPAddr); ok {
		port = ua.Port
	}
	h := s.h3
	h.mu.Lock()
	h.conns, h.ln, h.router, h.done, h.idle = conns, ln, r, make(chan struct{}), idle
	h.grace = s.DrainIdleGrace.Or(drain.DefaultIdleGrace)
	h.altSvc = fmt.Sprintf(`h3=":%d"; ma=%d`, port, int(altSvcMaxAge.Seconds()))
	h.mu.Unlock()
	s.log.Debug("serving http3", "addr", ln.Addr(), "generation", r.Generation())
	go func() {
		defer close(h.done)
		conns.serve(ln)
	}()
	return nil
}

// advertise adds Alt-Svc to responses over TCP while HTTP/3 serves.
func (h *h3) advertise(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor < 3 && !h.draining.Load() {
			h.mu.Lock()
			v := h.altSvc
			h.mu.Unlock()
			if v != "" {
				w.Header().Set("Alt-Svc", v)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// shutdown sends GOAWAY to every HTTP/3 client, and to every client
// whose connection this generation accepts from now on (its handshake
// began before the handover), waits for their streams and connections
// until ctx ends, then closes what is left, the listener and the router.
// A connection silent for drain_idle_grace after the GOAWAY is closed
// without waiting for the client to do it.
func (h *h3) shutdown(ctx context.Context) error {
	h.draining.Store(true)
	h.mu.Lock()
	conns, ln, r, done := h.conns, h.ln, h.router, h.done
	h.mu.Unlock()
	if conns == nil {
		return nil
	}
	// New connections go to the next generation from here on.
	r.HandOver()
	stop := make(chan struct{})
	go h.idle.closeSilent(h.grace, stop)
	conns.drain(ctx)
	// Every connection of this generation's Transport, handshakes
	// included, has ended: none can be accepted any more.
	err := waitNoConns(ctx, r)
	conns.wait()
	close(stop)
	ln.Close()
	<-done
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// waitNoConns waits until r has no connection left, or ctx ends.
func waitNoConns(ctx context.Context, r *quicroute.Router) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for r.OpenConns() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

func (h *h3) openConns() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.router == nil {
		return 0
	}
	return h.router.OpenConns()
}
