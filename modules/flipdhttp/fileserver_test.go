package flipdhttp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const secret = "TOP SECRET"

// fileTree builds, under a temporary directory:
//
//	root/index.html, root/hello.txt, root/docs/index.html, root/sub/a.txt,
//	root/inside-link -> hello.txt, root/escape.txt -> ../outside/secret.txt,
//	root/escape-dir -> ../outside, outside/secret.txt
//
// and returns root.
func fileTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	outside := filepath.Join(dir, "outside")
	files := map[string]string{
		"root/index.html":      "home",
		"root/hello.txt":       "hello file",
		"root/docs/index.html": "docs index",
		"root/sub/a.txt":       "a",
		"root/sub/b:c.txt":     "b",
		"outside/secret.txt":   secret,
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"inside-link": "hello.txt",
		"escape.txt":  filepath.Join(outside, "secret.txt"),
		"escape-rel":  "../outside/secret.txt",
		"escape-dir":  outside,
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Skipf("cannot make symbolic links here: %v", err)
		}
	}
	return root
}

func TestFileServer(t *testing.T) {
	root, _ := json.Marshal(fileTree(t))
	ts := start(t, `{"module": "http", "routes": [
		{"match": {"host": "browse.test"}, "handle": {"module": "file_server", "root": `+string(root)+`, "browse": true}},
		{"handle": {"module": "file_server", "root": `+string(root)+`}}
	]}`, nil)

	tests := []struct {
		method, target, host string
		status               int
		body                 string // exact, or a substring when contains
		contains             bool
	}{
		{"GET", "/hello.txt", "", 200, "hello file", false},
		{"HEAD", "/hello.txt", "", 200, "", false},
		{"GET", "/", "", 200, "home", false},
		{"GET", "/docs/", "", 200, "docs index", false},
		{"GET", "/inside-link", "", 200, "hello file", false},
		{"GET", "/missing", "", 404, "404 page not found\n", false},
		{"GET", "/hello.txt/", "", 404, "404 page not found\n", false},
		{"GET", "/hello.txt/x", "", 404, "404 page not found\n", false},
		{"GET", "/sub/", "", 404, "404 page not found\n", false},
		{"POST", "/hello.txt", "", 405, "405 method not allowed\n", false},
		{"GET", "/sub/", "browse.test", 200, `<a href="a.txt">a.txt</a>`, true},
		{"GET", "/sub/", "browse.test", 200, `<a href="./b:c.txt">b:c.txt</a>`, true},
		{"GET", "/", "browse.test", 200, "home", false}, // the index wins over the listing

		// Nothing outside root, whatever the path or the links say.
		{"GET", "/../outside/secret.txt", "", 403, "403 forbidden\n", false},
		{"GET", "/sub/../../outside/secret.txt", "", 403, "403 forbidden\n", false},
		{"GET", "/%2e%2e/outside/secret.txt", "", 403, "403 forbidden\n", false},
		{"GET", "/sub/..%2f..%2foutside%2fsecret.txt", "", 403, "403 forbidden\n", false},
		{"GET", `/..\outside\secret.txt`, "", 403, "403 forbidden\n", false},
		{"GET", "/escape.txt", "", 403, "403 forbidden\n", false},
		{"GET", "/escape-rel", "", 403, "403 forbidden\n", false},
		{"GET", "/escape-dir/secret.txt", "", 403, "403 forbidden\n", false},
		{"GET", "/escape-dir/", "browse.test", 403, "403 forbidden\n", false},
	}
	for _, tt := range tests {
		got := rawDo(t, ts.addr, tt.method, tt.target, tt.host)
		ok := got.status == tt.status
		if tt.contains {
			ok = ok && strings.Contains(got.body, tt.body)
		} else {
			ok = ok && got.body == tt.body
		}
		if !ok {
			t.Errorf("%s %s (host %q) = %d %q, want %d %q", tt.method, tt.target, tt.host, got.status, got.body, tt.status, tt.body)
		}
		if strings.Contains(got.body, secret) {
			t.Errorf("%s %s served a file outside root", tt.method, tt.target)
		}
	}
}

func TestFileServerRedirectsDirectory(t *testing.T) {
	root, _ := json.Marshal(fileTree(t))
	ts := start(t, `{"module": "http", "routes": [{"handle": {"module": "file_server", "root": `+string(root)+`}}]}`, nil)
	got := do(t, newClient(t), "GET", ts.url("/docs?x=1"), "")
	if got.status != 301 || got.header.Get("Location") != "./docs/?x=1" {
		t.Errorf("GET /docs = %d Location %q, want 301 \"./docs/?x=1\"", got.status, got.header.Get("Location"))
	}
	// A client that follows it gets the index.
	c := newClient(t)
	c.CheckRedirect = nil
	if got := do(t, c, "GET", ts.url("/docs"), ""); got.status != 200 || got.body != "docs index" {
		t.Errorf("following the redirect: %d %q", got.status, got.body)
	}
}

func TestFileServerRange(t *testing.T) {
	root, _ := json.Marshal(fileTree(t))
	ts := start(t, `{"module": "http", "routes": [{"handle": {"module": "file_server", "root": `+string(root)+`, "index": ["missing.html", "hello.txt"]}}]}`, nil)
	c := newClient(t)

	req := mustRequest(t, "GET", ts.url("/hello.txt"))
	req.Header.Set("Range", "bytes=0-4")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 206 || body != "hello" {
		t.Errorf("range request = %d %q, want 206 \"hello\"", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	// The index list is tried in order.
	if got := do(t, c, "GET", ts.url("/"), ""); got.status != 200 || got.body != "hello file" {
		t.Errorf("GET / with index [missing.html, hello.txt] = %d %q", got.status, got.body)
	}
}
