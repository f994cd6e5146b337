package flipdhttp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name   string
		match  Match
		method string
		host   string
		path   string
		want   bool
	}{
		{"empty matches all", Match{}, "GET", "any.test", "/x", true},

		{"host exact", Match{Host: stringList{"example.com"}}, "GET", "example.com", "/", true},
		{"host case", Match{Host: stringList{"Example.COM"}}, "GET", "EXAMPLE.com", "/", true},
		{"host port ignored", Match{Host: stringList{"example.com"}}, "GET", "example.com:8080", "/", true},
		{"host trailing dot", Match{Host: stringList{"example.com"}}, "GET", "example.com.", "/", true},
		{"host other", Match{Host: stringList{"example.com"}}, "GET", "example.org", "/", false},
		{"host wildcard one label", Match{Host: stringList{"*.example.com"}}, "GET", "www.example.com", "/", true},
		{"host wildcard not apex", Match{Host: stringList{"*.example.com"}}, "GET", "example.com", "/", false},
		{"host wildcard not two labels", Match{Host: stringList{"*.example.com"}}, "GET", "a.b.example.com", "/", false},
		{"host wildcard suffix only", Match{Host: stringList{"*.example.com"}}, "GET", "badexample.com", "/", false},
		{"host or", Match{Host: stringList{"a.test", "b.test"}}, "GET", "b.test", "/", true},
		{"host ipv6", Match{Host: stringList{"::1"}}, "GET", "[::1]:80", "/", true},
		{"host ipv6 brackets", Match{Host: stringList{"[::1]"}}, "GET", "[::1]", "/", true},
		{"host ipv4", Match{Host: stringList{"127.0.0.1"}}, "GET", "127.0.0.1:8080", "/", true},

		{"path exact", Match{Path: stringList{"/a"}}, "GET", "h", "/a", true},
		{"path exact not prefix", Match{Path: stringList{"/a"}}, "GET", "h", "/a/b", false},
		{"path exact trailing slash differs", Match{Path: stringList{"/a"}}, "GET", "h", "/a/", false},
		{"path prefix", Match{Path: stringList{"/api/*"}}, "GET", "h", "/api/v1/users", true},
		{"path prefix slash", Match{Path: stringList{"/api/*"}}, "GET", "h", "/api/", true},
		{"path prefix not parent", Match{Path: stringList{"/api/*"}}, "GET", "h", "/api", false},
		{"path prefix not sibling", Match{Path: stringList{"/api/*"}}, "GET", "h", "/apix", false},
		{"path star", Match{Path: stringList{"*"}}, "GET", "h", "/anything", true},
		{"path cleaned", Match{Path: stringList{"/admin/*"}}, "GET", "h", "/static/../admin/x", true},
		{"path cleaned out", Match{Path: stringList{"/static/*"}}, "GET", "h", "/static/../admin/x", false},
		{"path double slash", Match{Path: stringList{"/a/b"}}, "GET", "h", "//a//b", true},
		{"path glob", Match{Path: stringList{"/users/*/avatar"}}, "GET", "h", "/users/42/avatar", true},
		{"path glob one segment", Match{Path: stringList{"/users/*/avatar"}}, "GET", "h", "/users/4/2/avatar", false},
		{"path glob class", Match{Path: stringList{"/v[12]/*.json"}}, "GET", "h", "/v2/x.json", true},
		{"path glob question", Match{Path: stringList{"/v?"}}, "GET", "h", "/v3", true},
		{"path or", Match{Path: stringList{"/a", "/b"}}, "GET", "h", "/b", true},

		{"method", Match{Method: stringList{"POST"}}, "POST", "h", "/", true},
		{"method lower in config", Match{Method: stringList{"post"}}, "POST", "h", "/", true},
		{"method other", Match{Method: stringList{"POST"}}, "GET", "h", "/", false},
		{"method or", Match{Method: stringList{"GET", "HEAD"}}, "HEAD", "h", "/", true},

		{"and all", Match{Host: stringList{"h"}, Path: stringList{"/a"}, Method: stringList{"GET"}}, "GET", "h", "/a", true},
		{"and one fails", Match{Host: stringList{"h"}, Path: stringList{"/a"}, Method: stringList{"GET"}}, "GET", "h", "/b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.match.compile()
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			r := httptest.NewRequest(tt.method, "http://placeholder"+tt.path, nil)
			r.Host = tt.host
			if got := m.match(r); got != tt.want {
				t.Errorf("%s %s%s: match = %v, want %v", tt.method, tt.host, tt.path, got, tt.want)
			}
		})
	}
}

func TestMatchNil(t *testing.T) {
	var m *Match
	c, err := m.compile()
	if err != nil {
		t.Fatal(err)
	}
	if !c.match(httptest.NewRequest(http.MethodDelete, "/x", nil)) {
		t.Error("a route without match should match every request")
	}
}

func TestMatchCompileErrors(t *testing.T) {
	tests := []struct {
		match Match
		want  string
	}{
		{Match{Host: stringList{"a.*.com"}}, `host "a.*.com": a wildcard must be the whole first label`},
		{Match{Host: stringList{"*"}}, `host "*": a wildcard`},
		{Match{Host: stringList{"**.example.com"}}, `host "**.example.com"`},
		{Match{Host: stringList{"example.com:80"}}, `host "example.com:80": give the host without a port`},
		{Match{Host: stringList{""}}, `host "": empty host name`},
		{Match{Host: stringList{"a..b"}}, `host "a..b": not a valid host name: empty label`},
		{Match{Host: stringList{"bücher.de"}}, `xn--`},
		{Match{Host: stringList{"ex ample.com"}}, `not a valid host name`},
		{Match{Path: stringList{"api/*"}}, `path "api/*": must start with "/"`},
		{Match{Path: stringList{"/a/[b"}}, `path "/a/[b": not a valid glob`},
		{Match{Path: stringList{"/a/*/[b-"}}, `path "/a/*/[b-": not a valid glob`},
		{Match{Method: stringList{"GE T"}}, `method "GE T": not a valid method name`},
		{Match{Method: stringList{""}}, `method "": not a valid method name`},
	}
	for _, tt := range tests {
		_, err := tt.match.compile()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("compile(%+v) = %v, want an error containing %q", tt.match, err, tt.want)
		}
	}
}

func TestStringListJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{`"/a"`, []string{"/a"}, false},
		{`["/a", "/b"]`, []string{"/a", "/b"}, false},
		{`null`, nil, false},
		{`5`, nil, true},
		{`[1]`, nil, true},
	}
	for _, tt := range tests {
		var l stringList
		err := json.Unmarshal([]byte(tt.in), &l)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, want error: %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && strings.Join(l, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: got %q, want %q", tt.in, l, tt.want)
		}
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"":              "/",
		"/":             "/",
		"/a/":           "/a/",
		"/a/../b":       "/b",
		"/../../etc":    "/etc",
		"//a//b/":       "/a/b/",
		"*":             "/*",
		"/a/./b/../c/.": "/a/c",
	} {
		if got := cleanPath(in); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}
