package flipdhttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
)

func init() {
	flipd.RegisterModule(new(ReverseProxy))
}

// DefaultDialTimeout is the reverse proxy's dial_timeout when unset.
const DefaultDialTimeout = 10 * time.Second

// Settings of the reverse proxy's transport that configs do not need.
const (
	// proxyIdleConnTimeout closes upstream connections unused this long.
	proxyIdleConnTimeout = 90 * time.Second
	// proxyMaxIdlePerHost is well above net/http's default of 2, which
	// would make a busy proxy open and close upstream connections
	// constantly.
	proxyMaxIdlePerHost = 64
)

// ReverseProxy is the "reverse_proxy" handler (ID
// http.handlers.reverse_proxy): it forwards each request to one of its
// upstreams, in turn (round robin), over plain HTTP/1.1, and copies the
// response back.
//
//	{"module": "reverse_proxy", "upstreams": ["127.0.0.1:9000", "127.0.0.1:9001"]}
//
// The request keeps its Host header, and gets X-Forwarded-For,
// X-Forwarded-Host and X-Forwarded-Proto headers (any the client sent are
// replaced). When an upstream cannot be reached or fails before sending a
// response, the client gets 502 Bad Gateway and the error is logged with
// the upstream's address. There are no retries and no health checks: a
// dead upstream keeps its turn.
//
// A request that switches protocols ("Connection: upgrade", such as a
// WebSocket) becomes a tunnel between the client and the upstream once the
// upstream answers 101. Tunnels count among the server's open
// connections and keep a draining generation alive; on a plaintext
// listener they move to the next generation at a reload (no byte lost);
// otherwise, when upgrade.drain_timeout nears, a WebSocket gets a Close
// frame with status 1001 (going away) on both sides, between two frames,
// and any other tunnel a FIN on both sides, spread over
// upgrade.close_spread.
type ReverseProxy struct {
	// Upstreams are the addresses, host:port, of the servers to forward
	// to: "127.0.0.1:9000", "[::1]:9000", "backend.internal:80". At least
	// one is required.
	Upstreams []string `json:"upstreams"`

	// FlushInterval is how often the response body is flushed to the
	// client while it is copied from the upstream. Default: "0s", which
	// sends it as the server's write buffer fills, except for streaming
	// responses (text/event-stream, or of unknown length), which are
	// flushed after each write whatever this says.
	FlushInterval flipd.Duration `json:"flush_interval,omitempty"`

	// DialTimeout bounds the time to connect to an upstream.
	// Default: "10s".
	DialTimeout flipd.Duration `json:"dial_timeout,omitempty"`

	log       hclog.Logger
	dialer    *net.Dialer
	transport *http.Transport
	proxy     *httputil.ReverseProxy
	next      atomic.Uint64
}

// FlipdModule implements [flipd.Module].
func (*ReverseProxy) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{
		ID:  "http.handlers.reverse_proxy",
		New: func() flipd.Module { return new(ReverseProxy) },
	}
}

// Provision implements [flipd.Provisioner]: it checks the upstreams and
// builds the transport. It connects to nothing.
func (p *ReverseProxy) Provision(ctx flipd.Context) error {
	if len(p.Upstreams) == 0 {
		return errors.New("upstreams: at least one is required")
	}
	for i, up := range p.Upstreams {
		if err := flipd.CheckHostPort(up); err != nil {
			return fmt.Errorf("upstreams[%d] %q: %w", i, up, err)
		}
	}
	p.log = ctx.Logger()
	dialer := &net.Dialer{Timeout: p.DialTimeout.Or(DefaultDialTimeout), KeepAlive: 30 * time.Second}
	p.dialer = dialer
	p.transport = &http.Transport{
		// Upstreams are named in the config; the environment's
		// HTTP_PROXY must not reroute them.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		MaxIdleConnsPerHost:   proxyMaxIdlePerHost,
		IdleConnTimeout:       proxyIdleConnTimeout,
		ExpectContinueTimeout: time.Second,
	}
	p.proxy = &httputil.ReverseProxy{
		Rewrite:       p.rewrite,
		Transport:     p.transport,
		FlushInterval: time.Duration(p.FlushInterval),
		ErrorLog:      p.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}),
		ErrorHandler:  p.fail,
	}
	return nil
}

// upstreamKey carries the upstream chosen for a request, so that rewrite
// and fail agree on it.
type upstreamKey struct{}

// ServeHTTP implements [http.Handler].
func (p *ReverseProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	up := p.Upstreams[(p.next.Add(1)-1)%uint64(len(p.Upstreams))]
	r = r.WithContext(context.WithValue(r.Context(), upstreamKey{}, up))
	if isUpgrade(r) {
		p.serveUpgrade(w, r, up)
		return
	}
	p.proxy.ServeHTTP(w, r)
}

func (p *ReverseProxy) rewrite(pr *httputil.ProxyRequest) {
	up, _ := pr.In.Context().Value(upstreamKey{}).(string)
	pr.SetURL(&url.URL{Scheme: "http", Host: up})
	pr.Out.Host = pr.In.Host
	pr.SetXForwarded()
}

// fail answers a request the upstream did not: 502 Bad Gateway, without
// the error, which is for the log and not for clients.
func (p *ReverseProxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	up, _ := r.Context().Value(upstreamKey{}).(string)
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away; nobody reads the answer.
		p.log.Debug("client canceled proxied request", "upstream", up, "path", r.URL.Path)
	} else {
		p.log.Error("upstream request failed", "upstream", up, "method", r.Method, "path", r.URL.Path, "error", err)
	}
	http.Error(w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
}

// Cleanup implements [flipd.CleanerUpper]: it closes the idle upstream
// connections.
func (p *ReverseProxy) Cleanup() error {
	if p.transport != nil {
		p.transport.CloseIdleConnections()
	}
	return nil
}

// Interface guards.
var (
	_ http.Handler       = (*ReverseProxy)(nil)
	_ flipd.Provisioner  = (*ReverseProxy)(nil)
	_ flipd.CleanerUpper = (*ReverseProxy)(nil)
)
