package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
)

func init() {
	flipd.RegisterModule(new(Proxy))
}

// DefaultDialTimeout is the proxy's dial_timeout when the config leaves
// it out.
const DefaultDialTimeout = 5 * time.Second

// Proxy is the "proxy" handler: it forwards each connection, byte for
// byte, to an upstream server (a layer-4 proxy; nothing is parsed).
//
//	"handle": {"module": "proxy", "upstream": "127.0.0.1:9000", "dial_timeout": "5s"}
//	"handle": {"module": "proxy", "upstreams": ["10.0.0.1:9000", "10.0.0.2:9000"]}
//
// When one side is done sending it half-closes, the proxy half-closes the
// other side in turn, so a client that closes its writing side still gets
// the rest of the answer. When either side fails, or the listener ends the
// connection, both are closed.
//
// If no upstream can be reached the client's connection is closed, and
// each failed dial is logged with the upstream's address and the error.
type Proxy struct {
	// Upstream is the host:port to forward to: "127.0.0.1:9000",
	// "[::1]:9000", "db.internal:5432". A host name is resolved at each
	// connection. Set this or Upstreams.
	Upstream string `json:"upstream,omitempty"`

	// Upstreams lists several host:port to forward to. Connections go
	// to each in turn (round robin); when one cannot be reached, the
	// next is tried, each at most once per connection. Set this or
	// Upstream.
	Upstreams []string `json:"upstreams,omitempty"`

	// DialTimeout bounds each attempt to connect to an upstream: "2s".
	// Default: "5s".
	DialTimeout flipd.Duration `json:"dial_timeout,omitempty"`

	addrs  []string
	next   atomic.Uint64
	dialer net.Dialer
	logger hclog.Logger
}

// FlipdModule returns the module's ID, "tcp.handlers.proxy".
func (*Proxy) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: HandlersNamespace + ".proxy", New: func() flipd.Module { return new(Proxy) }}
}

// Provision checks the upstream addresses and sets the defaults.
func (p *Proxy) Provision(ctx flipd.Context) error {
	p.logger = ctx.Logger()
	switch {
	case p.Upstream != "" && len(p.Upstreams) > 0:
		return errors.New("set \"upstream\" or \"upstreams\", not both")
	case p.Upstream != "":
		p.addrs = []string{p.Upstream}
	case len(p.Upstreams) > 0:
		p.addrs = p.Upstreams
	default:
		return errors.New("\"upstream\" is missing: set the host:port to forward to, such as \"127.0.0.1:9000\"")
	}
	for _, addr := range p.addrs {
		if err := flipd.CheckHostPort(addr); err != nil {
			return fmt.Errorf("upstream %q: %w", addr, err)
		}
	}
	switch {
	case p.DialTimeout < 0:
		return fmt.Errorf("\"dial_timeout\" is %s: use a positive duration", p.DialTimeout)
	case p.DialTimeout == 0:
		p.DialTimeout = flipd.Duration(DefaultDialTimeout)
	}
	p.dialer.Timeout = time.Duration(p.DialTimeout)
	return nil
}

// Handle dials an upstream and copies between it and conn until both
// are done.
func (p *Proxy) Handle(ctx context.Context, conn net.Conn) error {
	up, err := p.dial(ctx, conn.RemoteAddr())
	if err != nil {
		return err
	}
	return pipe(ctx, conn, up, nil, nil, false, false)
}

// HandoverKey is "proxy/1", the format of a moved pair's state. It names
// no upstream: a moved pair keeps its own upstream connection, which
// moves with it, so a reload that changes the upstreams still moves the
// pairs already open (new connections go to the new upstreams).
func (p *Proxy) HandoverKey() string { return "proxy/1" }

// Resume goes on with a pair the previous generation moved here: the
// client's connection first, the upstream's second, and the bytes each
// direction had read and not yet written.
func (p *Proxy) Resume(ctx context.Context, mc flipd.MovedConn) error {
	if len(mc.Conns) != 2 {
		for _, c := range mc.Conns[1:] {
			c.Close()
		}
		return fmt.Errorf("proxy: a moved pair is 2 connections, got %d", len(mc.Conns))
	}
	client, up := mc.Conns[0], mc.Conns[1]
	c2u, u2c, c2uDone, u2cDone, err := decodePipeState(mc.State)
	if err != nil {
		up.Close()
		return err
	}
	clearDeadlines(client, up)
	return pipe(ctx, client, up, c2u, u2c, c2uDone, u2cDone)
}

// dial tries each upstream once, starting with the next in turn.
func (p *Proxy) dial(ctx context.Context, client net.Addr) (net.Conn, error) {
	first := p.next.Add(1) - 1
	var errs []error
	for i := range uint64(len(p.addrs)) {
		addr := p.addrs[(first+i)%uint64(len(p.addrs))]
		up, err := p.dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			return up, nil
		}
		if ctx.Err() != nil {
			// The connection is being ended (drain deadline, idle
			// timeout): not the upstream's fault.
			return nil, fmt.Errorf("proxy: dialing %s: %w", addr, err)
		}
		p.logger.Error("cannot reach upstream", "upstream", addr, "client", client.String(), "error", err)
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("proxy: no upstream reachable: %w", errors.Join(errs...))
}

// Interface guards.
var (
	_ MovableHandler    = (*Proxy)(nil)
	_ flipd.Provisioner = (*Proxy)(nil)
)
