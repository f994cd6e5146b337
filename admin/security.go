package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/flipd/flipd/engine"
)

// guard refuses the requests a browser could be tricked into sending, and
// those without the token when one is configured.
type guard struct {
	unix    bool     // a unix socket: browsers cannot reach it
	token   [32]byte // sha256 of the token, compared in constant time
	hasTok  bool
	origins []string // lowercase, without a trailing slash

	mu    sync.RWMutex
	addrs []authority // where the admin API listens
}

// authority is an address the Host header may name.
type authority struct {
	host string // lowercase name, if not an IP ("localhost")
	ip   net.IP
	port string
}

func newGuard(addr engine.Address, cfg engine.AdminConfig) *guard {
	g := &guard{unix: addr.Network == "unix" || addr.Network == "unixpacket"}
	if cfg.Token != "" {
		g.token, g.hasTok = sha256.Sum256([]byte(cfg.Token)), true
	}
	for _, o := range cfg.Origins {
		g.origins = append(g.origins, normalizeOrigin(o))
	}
	if !g.unix {
		// Port 0 picks a port when listening: listening adds the real one.
		if a, ok := parseAuthority(addr.Addr); ok && a.port != "0" {
			g.addrs = append(g.addrs, a)
		}
	}
	return g
}

// listening adds the address the admin API was given to serve on, which
// knows the port when the config said 0.
func (g *guard) listening(addr net.Addr) {
	if g.unix || addr == nil {
		return
	}
	if a, ok := parseAuthority(addr.String()); ok {
		g.mu.Lock()
		g.addrs = append(g.addrs, a)
		g.mu.Unlock()
	}
}

// wrap runs the checks before next.
func (g *guard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		if !g.unix && !g.hostAllowed(r.Host) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("host %q is not allowed: name the admin address (%s)", r.Host, g.want()))
			return
		}
		if origin, header := requestOrigin(r); origin != "" && !g.originAllowed(origin) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("%s %q is not allowed: add it to admin.origins", header, origin))
			return
		}
		if g.hasTok && !g.authorized(r) {
			h.Set("WWW-Authenticate", `Bearer realm="flipd admin"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer <admin.token>")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether hostport, a Host header, names the admin
// address: its IP, or "localhost" for a loopback one, with its port. A
// hostname an attacker controls (DNS rebinding) never matches. On a
// wildcard address any IP literal is accepted, since an IP cannot be
// rebound.
func (g *guard) hostAllowed(hostport string) bool {
	h, ok := parseAuthority(hostport)
	if !ok {
		return false
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, a := range g.addrs {
		if h.port != a.port {
			continue
		}
		switch {
		case h.ip != nil && a.ip != nil:
			if h.ip.Equal(a.ip) || a.ip.IsUnspecified() {
				return true
			}
		case h.host == "localhost":
			if a.host == "localhost" || a.ip.IsLoopback() || a.ip.IsUnspecified() {
				return true
			}
		case h.host != "" && h.host == a.host:
			return true
		}
	}
	return false
}

// want lists the admin addresses, for error messages.
func (g *guard) want() string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var s []string
	for _, a := range g.addrs {
		host := a.host
		if a.ip != nil {
			host = a.ip.String()
		}
		s = append(s, net.JoinHostPort(host, a.port))
	}
	return strings.Join(s, ", ")
}

// originAllowed reports whether origin (scheme://host[:port]) is listed in
// admin.origins, by itself or by its host, or is the admin address.
func (g *guard) originAllowed(origin string) bool {
	origin = normalizeOrigin(origin)
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	for _, o := range g.origins {
		if o == origin || (!strings.Contains(o, "://") && o == strings.ToLower(u.Host)) {
			return true
		}
	}
	return !g.unix && u.Scheme == "http" && u.Host != "" && g.hostAllowed(u.Host)
}

// authorized reports whether r carries the token.
func (g *guard) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	// Hashing first compares equal lengths, so the time taken does not
	// tell the token's length either.
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], g.token[:]) == 1
}

// requestOrigin is where a browser says r comes from: its Origin header,
// or failing that the origin of its Referer. It is empty for clients that
// send neither, like curl.
func requestOrigin(r *http.Request) (origin, header string) {
	if o := r.Header.Get("Origin"); o != "" {
		return o, "origin"
	}
	ref := r.Header.Get("Referer")
	if ref == "" {
		return "", ""
	}
	u, err := url.Parse(ref)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ref, "referer" // unparseable: refused unless listed
	}
	return u.Scheme + "://" + u.Host, "referer"
}

func normalizeOrigin(o string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(o)), "/")
}

// parseAuthority reads "host:port", "[v6]:port" or a host alone (port 80).
func parseAuthority(s string) (authority, bool) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), "80"
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || port == "" {
		return authority{}, false
	}
	if ip := net.ParseIP(host); ip != nil {
		return authority{ip: ip, port: port}, true
	}
	return authority{host: host, port: port}, true
}

// write wraps a handler of a POST: it needs "Content-Type:
// application/json", which a cross-site HTML form cannot send, and gets
// the body, read up to the limit.
func (s *Server) write(next func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ct := r.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("writes need Content-Type: application/json, not %q", ct))
			return
		}
		tooLarge := func() {
			w.Header().Set("Connection", "close") // the rest of the body is not read
			writeError(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("request body is larger than the limit of %d bytes (admin.max_body_bytes)", s.maxBody))
		}
		if r.ContentLength > s.maxBody {
			tooLarge()
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			tooLarge()
			return
		case err != nil:
			writeError(w, http.StatusBadRequest, "reading the request body: "+err.Error())
			return
		}
		next(w, r, body)
	}
}
