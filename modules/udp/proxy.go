package udp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
)

func init() {
	flipd.RegisterModule(new(Proxy))
}

// Defaults of the proxy handler.
const (
	DefaultIdleTimeout = 60 * time.Second
	DefaultMaxSessions = 1000
)

// Proxy is the "proxy" handler: it forwards each client's datagrams to an
// upstream, and the upstream's replies back to that client.
//
//	"handle": {"module": "proxy", "upstream": "127.0.0.1:5353", "idle_timeout": "30s", "max_sessions": 1000}
//
// Each client address gets a session: a socket of its own towards the
// upstream, so that replies are told apart by the port they come back
// to. A session ends once no datagram has gone either way for
// idle_timeout. On a handover, the old generation's sessions keep
// carrying replies back until they are idle or the drain ends (see the
// package documentation).
type Proxy struct {
	// Upstream is where datagrams go: "host:port". Required. A host name
	// is resolved each time a session opens.
	Upstream string `json:"upstream"`
	// IdleTimeout ends a session through which no datagram has gone,
	// either way, for that long. Default 60s.
	IdleTimeout flipd.Duration `json:"idle_timeout,omitempty"`
	// MaxSessions caps the sessions open at once (each holds a socket):
	// a datagram from a new client beyond it is dropped, and a warning
	// logged (at most once a second). Default 1000.
	MaxSessions int `json:"max_sessions,omitempty"`

	logger hclog.Logger

	mu       sync.Mutex
	sessions map[string]*session
	draining bool
	wg       sync.WaitGroup // one per session's reader
	warned   atomic.Int64   // unix nanoseconds of the last "cap reached" warning
}

// session is one client's way to the upstream.
type session struct {
	client net.Addr
	up     net.Conn
	last   atomic.Int64 // unix nanoseconds of the last datagram, either way
}

func (s *session) touch() { s.last.Store(time.Now().UnixNano()) }

// FlipdModule returns the module's ID, "udp.handlers.proxy".
func (*Proxy) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: HandlersNamespace + ".proxy", New: func() flipd.Module { return new(Proxy) }}
}

// Provision sets the defaults.
func (p *Proxy) Provision(ctx flipd.Context) error {
	p.logger = ctx.Logger()
	if p.IdleTimeout == 0 {
		p.IdleTimeout = flipd.Duration(DefaultIdleTimeout)
	}
	if p.MaxSessions == 0 {
		p.MaxSessions = DefaultMaxSessions
	}
	p.sessions = map[string]*session{}
	return nil
}

// Validate checks the upstream and the limits.
func (p *Proxy) Validate() error {
	if p.Upstream == "" {
		return errors.New(`"upstream" is missing: name where datagrams go, as "host:port"`)
	}
	if _, port, err := net.SplitHostPort(p.Upstream); err != nil || port == "" {
		return fmt.Errorf(`"upstream" is %q: want "host:port"`, p.Upstream)
	}
	if p.IdleTimeout < 0 {
		return fmt.Errorf(`"idle_timeout" is %s: use a positive duration`, p.IdleTimeout)
	}
	if p.MaxSessions < 0 {
		return fmt.Errorf(`"max_sessions" is %d: use a positive number`, p.MaxSessions)
	}
	return nil
}

// HandleDatagram forwards p to the upstream through client's session,
// opening it if need be.
func (p *Proxy) HandleDatagram(out Sender, client net.Addr, data []byte) {
	s := p.session(out, client)
	if s == nil {
		return
	}
	s.touch()
	if _, err := s.up.Write(data); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
		p.logger.Debug("forwarding a datagram to the upstream failed", "client", client.String(), "error", err)
	}
}

// session returns client's session, or opens one; nil if it cannot.
func (p *Proxy) session(out Sender, client net.Addr) *session {
	key := client.String()
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.sessions[key]; ok {
		return s
	}
	if p.draining {
		return nil
	}
	if len(p.sessions) >= p.MaxSessions {
		if now := time.Now().UnixNano(); now-p.warned.Load() > int64(time.Second) {
			p.warned.Store(now)
			p.logger.Warn("max_sessions reached: datagrams from new clients are dropped", "max_sessions", p.MaxSessions, "client", key)
		}
		return nil
	}
	up, err := net.Dial("udp", p.Upstream)
	if err != nil {
		p.logger.Warn("cannot open a session to the upstream", "upstream", p.Upstream, "client", key, "error", err)
		return nil
	}
	s := &session{client: client, up: up}
	s.touch()
	p.sessions[key] = s
	p.wg.Add(1)
	go p.relay(out, s, key)
	return s
}

// relay sends the upstream's replies back to the client until the
// session has been idle for IdleTimeout, or is closed.
func (p *Proxy) relay(out Sender, s *session, key string) {
	defer p.wg.Done()
	defer p.end(s, key)
	idle := time.Duration(p.IdleTimeout)
	buf := make([]byte, maxDatagram)
	for {
		s.up.SetReadDeadline(time.Unix(0, s.last.Load()).Add(idle))
		n, err := s.up.Read(buf)
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				if time.Since(time.Unix(0, s.last.Load())) < idle {
					continue // a datagram went out meanwhile
				}
				return
			case errors.Is(err, syscall.ECONNREFUSED):
				continue // the upstream's port is closed for now: ICMP said so
			}
			return
		}
		s.touch()
		if _, err := out.WriteTo(buf[:n], s.client); err != nil {
			p.logger.Debug("sending a reply to the client failed", "client", key, "error", err)
		}
	}
}

func (p *Proxy) end(s *session, key string) {
	s.up.Close()
	p.mu.Lock()
	if p.sessions[key] == s {
		delete(p.sessions, key)
	}
	p.mu.Unlock()
}

// OpenSessions is how many sessions are open.
func (p *Proxy) OpenSessions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sessions)
}

// Drain waits for the sessions to go idle, carrying replies meanwhile;
// when ctx ends first it closes them and says how many.
func (p *Proxy) Drain(ctx context.Context) error {
	p.mu.Lock()
	p.draining = true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	n := len(p.sessions)
	for _, s := range p.sessions {
		s.up.Close()
	}
	p.mu.Unlock()
	<-done
	if n == 0 {
		return nil
	}
	return fmt.Errorf("closed %d udp proxy sessions still open at the drain deadline", n)
}

// Cleanup closes what is left (sessions of a proxy that never drained).
func (p *Proxy) Cleanup() error {
	p.mu.Lock()
	for _, s := range p.sessions {
		s.up.Close()
	}
	p.mu.Unlock()
	return nil
}

// Interface guards.
var (
	_ Handler              = (*Proxy)(nil)
	_ Drainer              = (*Proxy)(nil)
	_ flipd.SessionCounter = (*Proxy)(nil)
	_ flipd.Provisioner    = (*Proxy)(nil)
	_ flipd.Validator      = (*Proxy)(nil)
	_ flipd.CleanerUpper   = (*Proxy)(nil)
)
