package flipdhttp

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path"
	"reflect"
	"strings"
)

// Match selects the requests a route handles. A request matches when it
// satisfies every matcher that is set (host AND path AND method); a
// matcher with several values is satisfied by any one of them (OR). A
// route without "match" handles every request.
//
// Each matcher takes a list of strings, or one string for a list of one:
//
//	{"host": ["example.com", "*.example.com"], "path": "/api/*", "method": ["GET", "HEAD"]}
type Match struct {
	// Host lists the host names the request must be for, taken from its
	// Host header (HTTP/1) or :authority (HTTP/2) without the port.
	// Names compare case-insensitively. "*.example.com" matches any name
	// one label deeper, such as "www.example.com", but neither
	// "example.com" nor "a.b.example.com". IP addresses are allowed:
	// "127.0.0.1", "::1".
	Host stringList `json:"host,omitempty"`

	// Path lists the URL paths the request must have. Paths are matched
	// after cleaning ("/a/../b" is matched as "/b"; the handler still gets
	// the path as sent) and compare case-sensitively. A pattern is one of:
	//   - exact: "/robots.txt" matches that path only;
	//   - prefix: a trailing "*", as in "/api/*", matches every path that
	//     starts with "/api/" ("*" alone matches every path);
	//   - glob: any other pattern with "*", "?" or "[", matched with Go's
	//     path.Match, where "*" does not cross a "/": "/users/*/avatar".
	// Patterns start with "/".
	Path stringList `json:"path,omitempty"`

	// Method lists the request methods allowed, such as "GET" or "POST".
	// Values are upper-cased first, so "get" means "GET".
	Method stringList `json:"method,omitempty"`
}

// stringList is a list of strings that JSON may also give as one string.
type stringList []string

// UnmarshalJSON implements [json.Unmarshaler].
func (l *stringList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return &json.UnmarshalTypeError{
			Value: fmt.Sprintf("%s %s (write a string or a list of strings)", jsonKind(b), b),
			Type:  reflect.TypeFor[[]string](),
		}
	}
	*l = many
	return nil
}

// matcher is a compiled Match.
type matcher struct {
	hosts   []hostPattern
	paths   []pathPattern
	methods []string
}

// hostPattern is a lower-cased host name, or the suffix of a wildcard.
type hostPattern struct {
	name     string // "example.com", or ".example.com" for "*.example.com"
	wildcard bool
}

type pathKind int

const (
	pathExact pathKind = iota
	pathPrefix
	pathGlob
)

type pathPattern struct {
	kind    pathKind
	pattern string // for pathPrefix, without the "*"
}

// compile checks every pattern of m and returns the matcher. A nil m
// matches every request.
func (m *Match) compile() (*matcher, error) {
	c := new(matcher)
	if m == nil {
		return c, nil
	}
	for _, h := range m.Host {
		p, err := compileHost(h)
		if err != nil {
			return nil, fmt.Errorf("host %q: %w", h, err)
		}
		c.hosts = append(c.hosts, p)
	}
	for _, s := range m.Path {
		p, err := compilePath(s)
		if err != nil {
			return nil, fmt.Errorf("path %q: %w", s, err)
		}
		c.paths = append(c.paths, p)
	}
	for _, s := range m.Method {
		if !isToken(s) {
			return nil, fmt.Errorf("method %q: not a valid method name", s)
		}
		c.methods = append(c.methods, strings.ToUpper(s))
	}
	return c, nil
}

func compileHost(h string) (hostPattern, error) {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if ip := net.ParseIP(h); ip != nil {
		return hostPattern{name: ip.String()}, nil
	}
	name, wildcard := strings.CutPrefix(h, "*.")
	switch {
	case name == "":
		return hostPattern{}, fmt.Errorf("empty host name")
	case strings.Contains(name, ":"):
		return hostPattern{}, fmt.Errorf("give the host without a port")
	case strings.Contains(name, "*"):
		return hostPattern{}, fmt.Errorf("a wildcard must be the whole first label of a name, as in \"*.example.com\"")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return hostPattern{}, fmt.Errorf("not a valid host name (write internationalized names in their xn-- form)")
		}
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return hostPattern{}, fmt.Errorf("not a valid host name: empty label")
		}
	}
	if wildcard {
		return hostPattern{name: "." + name, wildcard: true}, nil
	}
	return hostPattern{name: name}, nil
}

func compilePath(p string) (pathPattern, error) {
	if p != "*" && !strings.HasPrefix(p, "/") {
		return pathPattern{}, fmt.Errorf("must start with \"/\"")
	}
	if !strings.ContainsAny(p, `*?[\`) {
		return pathPattern{kind: pathExact, pattern: p}, nil
	}
	if prefix, ok := strings.CutSuffix(p, "*"); ok && !strings.ContainsAny(prefix, `*?[\`) {
		return pathPattern{kind: pathPrefix, pattern: prefix}, nil
	}
	if _, err := path.Match(p, ""); err != nil {
		return pathPattern{}, fmt.Errorf("not a valid glob: %w", err)
	}
	return pathPattern{kind: pathGlob, pattern: p}, nil
}

// match reports whether r satisfies every matcher that is set.
func (m *matcher) match(r *http.Request) bool {
	return m.matchMethod(r.Method) && m.matchHost(r.Host) && m.matchPath(r.URL.Path)
}

func (m *matcher) matchMethod(method string) bool {
	if len(m.methods) == 0 {
		return true
	}
	for _, want := range m.methods {
		if method == want {
			return true
		}
	}
	return false
}

func (m *matcher) matchHost(hostport string) bool {
	if len(m.hosts) == 0 {
		return true
	}
	host := requestHost(hostport)
	for _, p := range m.hosts {
		if !p.wildcard {
			if host == p.name {
				return true
			}
			continue
		}
		label, ok := strings.CutSuffix(host, p.name)
		if ok && label != "" && !strings.Contains(label, ".") {
			return true
		}
	}
	return false
}

// requestHost returns the lower-cased host of a Host header, without its
// port, brackets or trailing dot.
func requestHost(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip := net.ParseIP(host); ip != nil {
		return ip.String()
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

func (m *matcher) matchPath(p string) bool {
	if len(m.paths) == 0 {
		return true
	}
	p = cleanPath(p)
	for _, pat := range m.paths {
		switch pat.kind {
		case pathExact:
			if p == pat.pattern {
				return true
			}
		case pathPrefix:
			if strings.HasPrefix(p, pat.pattern) {
				return true
			}
		case pathGlob:
			// The pattern was checked when compiled.
			if ok, _ := path.Match(pat.pattern, p); ok {
				return true
			}
		}
	}
	return false
}

// cleanPath is path.Clean of a rooted p, keeping a trailing slash, so that
// "/static/../admin" cannot slip past a matcher for "/admin/*".
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean
}

// isToken reports whether s is a non-empty HTTP token (RFC 9110, 5.6.2),
// the syntax of method and header names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// jsonKind names the kind of a JSON value that is not a string.
func jsonKind(b []byte) string {
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	}
	return "number"
}
