package admin

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flipd/flipd/engine"
)

func TestRebindingHostIsRefused(t *testing.T) {
	b := newFake()
	ts := startServer(t, b, engine.AdminConfig{})
	_, port, _ := net.SplitHostPort(ts.host)
	tests := []struct {
		host   string
		status int
	}{
		{"evil.example:2019", http.StatusForbidden},
		{"evil.example:" + port, http.StatusForbidden},
		{"127.0.0.1.nip.io:" + port, http.StatusForbidden},
		{"127.0.0.1:1", http.StatusForbidden},
		{"127.0.0.2:" + port, http.StatusForbidden},
		{"127.0.0.1:" + port, http.StatusOK},
		{"localhost:" + port, http.StatusOK},
		{"LocalHost:" + port, http.StatusOK},
	}
	for _, tt := range tests {
		r := ts.do(t, request{method: "POST", path: "/load", body: config, header: map[string]string{"Host": tt.host}})
		if tt.status == http.StatusOK {
			if r.status != http.StatusOK {
				t.Errorf("Host %s: %d %s", tt.host, r.status, r.body)
			}
			continue
		}
		wantError(t, r, tt.status, tt.host)
	}
	if calls := b.Calls(); len(calls) != 3 {
		t.Errorf("backend calls %v, want only the 3 allowed ones", calls)
	}
}

func TestHostAllowed(t *testing.T) {
	tests := []struct {
		listen string
		host   string
		ok     bool
	}{
		{"[::1]:2019", "[::1]:2019", true},
		{"[::1]:2019", "[0:0:0:0:0:0:0:1]:2019", true},
		{"[::1]:2019", "localhost:2019", true},
		{"[::1]:2019", "[::1]", false},
		{"[::1]:2019", "[::1]:2020", false},
		{"[::1]:2019", "127.0.0.1:2019", false},
		{"[::1]:2019", "evil.example:2019", false},
		{"[::1]:2019", "", false},
		{"127.0.0.1:2019", "127.0.0.1:2019", true},
		{"127.0.0.1:2019", "localhost.:2019", true},
		{"127.0.0.1:2019", "127.0.0.1", false},
		{"127.0.0.1:80", "127.0.0.1", true},
		{"127.0.0.1:80", "localhost", true},
		{"localhost:2019", "localhost:2019", true},
		{"localhost:2019", "evil.example:2019", false},
	}
	for _, tt := range tests {
		addr, err := engine.ParseAddress(tt.listen)
		if err != nil {
			t.Fatal(err)
		}
		g := newGuard(addr, engine.AdminConfig{})
		if got := g.hostAllowed(tt.host); got != tt.ok {
			t.Errorf("listening on %s, Host %q allowed: %v, want %v", tt.listen, tt.host, got, tt.ok)
		}
	}
}

func TestHostAllowedOnAWildcardAddress(t *testing.T) {
	addr, err := engine.AdminConfig{Listen: "0.0.0.0:2019", Token: "t"}.Address()
	if err != nil {
		t.Fatal(err)
	}
	g := newGuard(addr, engine.AdminConfig{})
	for host, ok := range map[string]bool{"10.1.2.3:2019": true, "localhost:2019": true, "evil.example:2019": false, "10.1.2.3:80": false} {
		if got := g.hostAllowed(host); got != ok {
			t.Errorf("Host %q allowed: %v, want %v", host, got, ok)
		}
	}
}

func TestCrossOriginIsRefused(t *testing.T) {
	b := newFake()
	ts := startServer(t, b, engine.AdminConfig{Origins: []string{"https://dash.example", "tools.example:8443"}})
	tests := []struct {
		header, value string
		status        int
	}{
		{"Origin", "http://evil.example", http.StatusForbidden},
		{"Origin", "null", http.StatusForbidden},
		{"Origin", "https://dash.example.evil.example", http.StatusForbidden},
		{"Origin", "https://127.0.0.1:" + portOf(ts.host), http.StatusForbidden}, // the admin API speaks http
		{"Referer", "http://evil.example/attack.html", http.StatusForbidden},
		{"Origin", "https://dash.example", http.StatusOK},
		{"Origin", "https://DASH.example/", http.StatusOK},
		{"Origin", "https://tools.example:8443", http.StatusOK},
		{"Origin", "http://" + ts.host, http.StatusOK},
		{"Origin", "http://localhost:" + portOf(ts.host), http.StatusOK},
		{"Referer", "http://" + ts.host + "/ui/index.html", http.StatusOK},
	}
	allowed := 0
	for _, tt := range tests {
		for _, method := range []string{"POST", "GET"} {
			path, body := "/load", config
			if method == "GET" {
				path, body = "/status", ""
			}
			r := ts.do(t, request{method: method, path: path, body: body, header: map[string]string{tt.header: tt.value}})
			if tt.status == http.StatusOK {
				if r.status != http.StatusOK {
					t.Errorf("%s %s %s: %d %s", method, tt.header, tt.value, r.status, r.body)
				}
				if method == "POST" {
					allowed++
				}
				continue
			}
			wantError(t, r, tt.status, strings.ToLower(tt.header))
		}
	}
	if calls := b.Calls(); len(calls) != allowed {
		t.Errorf("backend calls %d, want only the %d allowed ones", len(calls), allowed)
	}
}

func portOf(hostport string) string {
	_, port, _ := net.SplitHostPort(hostport)
	return port
}

func TestWritesNeedJSON(t *testing.T) {
	b := newFake()
	ts := startServer(t, b, engine.AdminConfig{})
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx", "application/json;;"} {
		for _, path := range []string{"/load", "/upgrade", "/stop"} {
			r := ts.do(t, request{method: "POST", path: path, body: config, header: map[string]string{"Content-Type": ct}})
			wantError(t, r, http.StatusUnsupportedMediaType, "Content-Type: application/json")
		}
	}
	if calls := b.Calls(); len(calls) != 0 {
		t.Errorf("backend called: %v", calls)
	}
	r := ts.do(t, request{method: "POST", path: "/load", body: config, header: map[string]string{"Content-Type": "application/json; charset=utf-8"}})
	if r.status != http.StatusOK {
		t.Errorf("with a charset: %d %s", r.status, r.body)
	}
}

func TestBodyLimit(t *testing.T) {
	b := newFake()
	ts := startServer(t, b, engine.AdminConfig{})
	big := `{"x": "` + strings.Repeat("a", 10<<20) + `"}`

	// With a Content-Length, refused before reading.
	r := ts.do(t, request{method: "POST", path: "/load", body: big})
	wantError(t, r, http.StatusRequestEntityTooLarge, "1048576 bytes")

	// Chunked, refused once the limit is read.
	req, err := http.NewRequest("POST", ts.url+"/load", io.MultiReader(strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantError(t, response{status: resp.StatusCode, header: resp.Header, body: body}, http.StatusRequestEntityTooLarge, "1048576 bytes")

	if calls := b.Calls(); len(calls) != 0 {
		t.Errorf("backend called: %v", calls)
	}
}

func TestBodyLimitIsConfigurable(t *testing.T) {
	b := newFake()
	ts := startServer(t, b, engine.AdminConfig{MaxBodyBytes: 100})
	fits := `{"a": "` + strings.Repeat("x", 100-9) + `"}`
	if r := ts.do(t, request{method: "POST", path: "/load", body: fits}); r.status != http.StatusOK {
		t.Errorf("100 bytes: %d %s", r.status, r.body)
	}
	r := ts.do(t, request{method: "POST", path: "/load", body: fits + " "})
	wantError(t, r, http.StatusRequestEntityTooLarge, "limit of 100 bytes")
}

func TestToken(t *testing.T) {
	b := newFake()
	ts := startServer(t, b, engine.AdminConfig{Token: "s3cret"})
	for _, auth := range []string{"", "Bearer", "Bearer wrong", "Bearer s3cre", "Bearer s3cretX", "Basic czNjcmV0", "s3cret"} {
		for _, req := range []request{
			{method: "GET", path: "/status"},
			{method: "POST", path: "/load", body: config},
		} {
			req.header = map[string]string{"Authorization": auth}
			r := ts.do(t, req)
			wantError(t, r, http.StatusUnauthorized, "token")
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
		}
	}
	if calls := b.Calls(); len(calls) != 0 {
		t.Errorf("backend called: %v", calls)
	}
	for _, auth := range []string{"Bearer s3cret", "bearer s3cret"} {
		r := ts.do(t, request{method: "POST", path: "/load", body: config, header: map[string]string{"Authorization": auth}})
		if r.status != http.StatusOK {
			t.Errorf("%q: %d %s", auth, r.status, r.body)
		}
	}
}

func TestUnixSocketAcceptsAnyHost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Skipf("unix sockets: %v", err)
	}
	b := newFake()
	ts := serveOn(t, b, engine.AdminConfig{Listen: "unix/" + path}, ln)
	for _, host := range []string{"localhost", "evil.example:2019", "flipd"} {
		if r := ts.do(t, request{method: "GET", path: "/status", header: map[string]string{"Host": host}}); r.status != http.StatusOK {
			t.Errorf("GET /status, Host %s: %d %s", host, r.status, r.body)
		}
		if r := ts.do(t, request{method: "POST", path: "/load", body: config, header: map[string]string{"Host": host}}); r.status != http.StatusOK {
			t.Errorf("POST /load, Host %s: %d %s", host, r.status, r.body)
		}
	}
	// The other checks still apply.
	r := ts.do(t, request{method: "POST", path: "/load", body: config, header: map[string]string{"Origin": "http://evil.example"}})
	wantError(t, r, http.StatusForbidden, "evil.example")
	r = ts.do(t, request{method: "POST", path: "/load", body: config, header: map[string]string{"Content-Type": "text/plain"}})
	wantError(t, r, http.StatusUnsupportedMediaType, "application/json")
}
