package flipdhttp

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// upstream starts an HTTP server on 127.0.0.1 that answers with its name
// and echoes what the proxy sent.
func upstream(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", name)
		w.Header().Set("X-Got-Host", r.Host)
		w.Header().Set("X-Got-Forwarded-For", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Got-Path", r.URL.RequestURI())
		io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func proxyConfig(upstreams ...string) string {
	return fmt.Sprintf(`{"module": "http", "routes": [{"handle": {"module": "reverse_proxy", "upstreams": ["%s"]}}]}`,
		strings.Join(upstreams, `", "`))
}

func TestReverseProxyRoundRobin(t *testing.T) {
	a, b := upstream(t, "a"), upstream(t, "b")
	ts := start(t, proxyConfig(a.Listener.Addr().String(), b.Listener.Addr().String()), nil)
	c := newClient(t)

	var got []string
	for i := range 6 {
		resp := do(t, c, "GET", ts.url(fmt.Sprintf("/p/%d?q=1", i)), "site.example")
		if resp.status != 200 {
			t.Fatalf("request %d: status %d, body %q", i, resp.status, resp.body)
		}
		got = append(got, resp.body)
		if h := resp.header.Get("X-Got-Host"); h != "site.example" {
			t.Errorf("upstream got Host %q, want the client's, site.example", h)
		}
		if h := resp.header.Get("X-Got-Forwarded-For"); h != "127.0.0.1" {
			t.Errorf("upstream got X-Forwarded-For %q, want 127.0.0.1", h)
		}
		if h, want := resp.header.Get("X-Got-Path"), fmt.Sprintf("/p/%d?q=1", i); h != want {
			t.Errorf("upstream got %q, want %q", h, want)
		}
	}
	if s := strings.Join(got, ""); s != "ababab" {
		t.Errorf("upstreams in turn = %q, want \"ababab\"", s)
	}
}

func TestReverseProxyDeadUpstream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	ts := start(t, proxyConfig(dead), nil)
	resp := do(t, newClient(t), "GET", ts.url("/x"), "")
	if resp.status != http.StatusBadGateway || resp.body != "Bad Gateway\n" {
		t.Errorf("dead upstream: %d %q, want 502 \"Bad Gateway\\n\"", resp.status, resp.body)
	}
	if strings.Contains(resp.body, dead) {
		t.Errorf("the client was told the upstream's address: %q", resp.body)
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "upstream request failed") || !strings.Contains(logs, "upstream="+dead) ||
		!strings.Contains(logs, "dial tcp") {
		t.Errorf("no log line naming the upstream %s and the error:\n%s", dead, logs)
	}
}
