package flipdhttp

import (
	"testing"
)

func TestStaticResponse(t *testing.T) {
	ts := start(t, `{"module": "http", "routes": [
		{"match": {"path": "/teapot"}, "handle": {"module": "static_response", "status": 418, "body": "short and stout",
		  "headers": {"x-tea": ["earl grey", "green"], "Content-Type": ["text/plain; charset=utf-8"]}}},
		{"match": {"path": "/empty"}, "handle": {"module": "static_response", "status": 204}},
		{"match": {"path": "/html"}, "handle": {"module": "static_response", "body": "<!doctype html><p>hi"}},
		{"handle": {"module": "static_response"}}
	]}`, nil)
	c := newClient(t)

	tests := []struct {
		method, path string
		status       int
		body         string
		header       map[string][]string
	}{
		{"GET", "/teapot", 418, "short and stout", map[string][]string{
			"X-Tea":        {"earl grey", "green"},
			"Content-Type": {"text/plain; charset=utf-8"},
		}},
		{"HEAD", "/teapot", 418, "", map[string][]string{"X-Tea": {"earl grey", "green"}}},
		{"GET", "/empty", 204, "", nil},
		{"GET", "/html", 200, "<!doctype html><p>hi", map[string][]string{"Content-Type": {"text/html; charset=utf-8"}}},
		{"POST", "/anything", 200, "", nil},
	}
	for _, tt := range tests {
		got := do(t, c, tt.method, ts.url(tt.path), "")
		if got.status != tt.status || got.body != tt.body {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, got.status, got.body, tt.status, tt.body)
		}
		for name, want := range tt.header {
			if g := got.header[name]; len(g) != len(want) || (len(g) > 0 && g[0] != want[0]) || (len(g) > 1 && g[1] != want[1]) {
				t.Errorf("%s %s: header %s = %q, want %q", tt.method, tt.path, name, g, want)
			}
		}
	}
}
