package flipdhttp

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd"
)

func TestRouting(t *testing.T) {
	ts := start(t, `{"module": "http", "routes": [
		{"match": {"host": ["example.com", "*.example.com"], "path": "/api/*", "method": ["GET", "POST"]},
		 "handle": `+static("api")+`},
		{"match": {"path": "/users/*/avatar"}, "handle": `+static("avatar")+`},
		{"match": {"path": ["/exact", "/other"]}, "handle": `+static("exact")+`},
		{"match": {"path": "/api/*"}, "handle": `+static("api-fallback")+`},
		{"match": {"method": "DELETE"}, "handle": `+static("delete")+`}
	]}`, nil)
	c := newClient(t)

	tests := []struct {
		method, host, path string
		status             int
		body               string
	}{
		{"GET", "example.com", "/api/x", 200, "api"},
		{"POST", "WWW.Example.COM:8080", "/api/v1/x", 200, "api"},
		{"GET", "a.b.example.com", "/api/x", 200, "api-fallback"},
		{"PUT", "example.com", "/api/x", 200, "api-fallback"},
		{"GET", "example.com", "/users/7/avatar", 200, "avatar"},
		{"GET", "", "/users/7/8/avatar", 404, "404 page not found\n"},
		{"GET", "", "/exact", 200, "exact"},
		{"GET", "", "/other", 200, "exact"},
		{"GET", "", "/exact/", 404, "404 page not found\n"},
		{"DELETE", "", "/anything", 200, "delete"},
		{"GET", "", "/anything", 404, "404 page not found\n"},
	}
	for _, tt := range tests {
		got := do(t, c, tt.method, ts.url(tt.path), tt.host)
		if got.status != tt.status || got.body != tt.body {
			t.Errorf("%s %s%s = %d %q, want %d %q", tt.method, tt.host, tt.path, got.status, got.body, tt.status, tt.body)
		}
	}

	// Matched on the cleaned path, sent as is.
	if got := rawDo(t, ts.addr, "GET", "/api/../exact", ""); got.status != 200 || got.body != "exact" {
		t.Errorf("GET /api/../exact = %d %q, want 200 \"exact\"", got.status, got.body)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file.txt")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	js := func(s string) string { b, _ := json.Marshal(s); return string(b) }

	tests := []struct {
		name string
		raw  string
		want []string // substrings of the error
	}{
		{"unknown field", `{"module": "http", "rootes": []}`, []string{`unknown field "rootes"`}},
		{"unknown route field", `{"module": "http", "routes": [{"handel": {}}]}`, []string{`unknown field "handel"`}},
		{"unknown handler field", `{"module": "http", "routes": [{"handle": {"module": "static_response", "statuss": 200}}]}`,
			[]string{"route 0", `unknown field "statuss"`}},
		{"unknown handler", `{"module": "http", "routes": [{"handle": ` + static("ok") + `}, {"handle": {"module": "nope"}}]}`,
			[]string{"route 1: handle:", `"nope"`, "known: file_server, health, reverse_proxy, static_response"}},
		{"missing handle", `{"module": "http", "routes": [{"match": {"path": "/"}}]}`, []string{"route 0: handle:", `"module"`}},
		{"bad path", `{"module": "http", "routes": [{"handle": ` + static("ok") + `}, {"match": {"path": ["/ok", "/a/[b"]}, "handle": ` + static("ok") + `}]}`,
			[]string{"route 1: match:", `path "/a/[b"`}},
		{"bad host", `{"module": "http", "routes": [{"match": {"host": "a.*.com"}, "handle": ` + static("ok") + `}]}`,
			[]string{"route 0: match:", `host "a.*.com"`}},
		{"bad method", `{"module": "http", "routes": [{"match": {"method": "GE T"}, "handle": ` + static("ok") + `}]}`,
			[]string{"route 0: match:", `method "GE T"`}},
		{"matcher not a string", `{"module": "http", "routes": [{"match": {"host": 5}, "handle": ` + static("ok") + `}]}`,
			[]string{`"routes.match.host"`, "list of strings"}},
		{"duration number", `{"module": "http", "idle_timeout": 5}`, []string{`"idle_timeout"`, `"30s"`, "got 5"}},
		{"duration unit", `{"module": "http", "read_timeout": "10 parsecs"}`, []string{`"read_timeout"`, `"10 parsecs"`}},
		{"duration negative", `{"module": "http", "write_timeout": "-1s"}`, []string{`"write_timeout"`, "negative"}},
		{"max header bytes", `{"module": "http", "max_header_bytes": -1}`, []string{"max_header_bytes", "negative"}},
		{"static status", `{"module": "http", "routes": [{"handle": {"module": "static_response", "status": 99}}]}`,
			[]string{"route 0: handle:", "status: 99"}},
		{"static body 204", `{"module": "http", "routes": [{"handle": {"module": "static_response", "status": 204, "body": "x"}}]}`,
			[]string{"body: status 204 takes no body"}},
		{"static header", `{"module": "http", "routes": [{"handle": {"module": "static_response", "headers": {"X A": ["b"]}}}]}`,
			[]string{`"X A" is not a valid header name`}},
		{"proxy no upstreams", `{"module": "http", "routes": [{"handle": {"module": "reverse_proxy", "upstreams": []}}]}`,
			[]string{"route 0: handle:", "upstreams: at least one"}},
		{"proxy bad upstream", `{"module": "http", "routes": [{"handle": {"module": "reverse_proxy", "upstreams": ["127.0.0.1:1", "localhost"]}}]}`,
			[]string{`upstreams[1] "localhost"`, "host:port"}},
		{"proxy bad port", `{"module": "http", "routes": [{"handle": {"module": "reverse_proxy", "upstreams": ["localhost:99999"]}}]}`,
			[]string{`upstreams[0] "localhost:99999"`, "1 to 65535"}},
		{"proxy flush interval", `{"module": "http", "routes": [{"handle": {"module": "reverse_proxy", "upstreams": ["127.0.0.1:1"], "flush_interval": 1}}]}`,
			[]string{`"flush_interval"`}},
		{"file server no root", `{"module": "http", "routes": [{"handle": {"module": "file_server"}}]}`,
			[]string{"route 0: handle:", "root: required"}},
		{"file server root missing", `{"module": "http", "routes": [{"handle": {"module": "file_server", "root": ` + js(filepath.Join(dir, "nope")) + `}}]}`,
			[]string{"root:", "no such file"}},
		{"file server root not dir", `{"module": "http", "routes": [{"handle": {"module": "file_server", "root": ` + js(file) + `}}]}`,
			[]string{"root:", "is not a directory"}},
		{"file server index", `{"module": "http", "routes": [{"handle": {"module": "file_server", "root": ` + js(dir) + `, "index": ["a/b.html"]}}]}`,
			[]string{`index[0] "a/b.html"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := newTestLogger(t)
			_, err := load(t, logger, tt.raw)
			if err == nil {
				t.Fatalf("loading %s: no error", tt.raw)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	logger, _ := newTestLogger(t)
	srv, err := load(t, logger, `{"module": "http", "write_timeout": "1m30s"}`)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(srv)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"write_timeout":"1m30s"}`; string(b) != want {
		t.Errorf("marshalled config = %s, want %s", b, want)
	}
	if d := srv.IdleTimeout.Or(DefaultIdleTimeout); d != 2*time.Minute {
		t.Errorf("idle timeout default = %v", d)
	}
}

func TestServerWithoutProvision(t *testing.T) {
	var s Server
	if n := s.OpenConns(); n != 0 {
		t.Errorf("OpenConns = %d", n)
	}
	if err := s.Drain(t.Context()); err != nil {
		t.Errorf("Drain: %v", err)
	}
	ln := httptest.NewUnstartedServer(nil).Listener
	defer ln.Close()
	if err := s.Serve(ln); err == nil {
		t.Error("Serve before Provision: no error")
	}
}

func TestModulesRegistered(t *testing.T) {
	for _, id := range []flipd.ModuleID{
		"listeners.http",
		"http.handlers.static_response",
		"http.handlers.reverse_proxy",
		"http.handlers.file_server",
		"http.handlers.health",
	} {
		if _, err := flipd.GetModule(id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}
