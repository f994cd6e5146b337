package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flipd/flipd/engine"
)

// countingBackend is a Backend for the fuzzer: every write succeeds, so
// that an error answer can only be a refusal, and every call is counted.
type countingBackend struct {
	t      *testing.T
	writes atomic.Int32 // Reload, Upgrade, Stop
	reads  atomic.Int32 // Status, ConfigJSON, Stats
}

func (b *countingBackend) Reload(raw []byte, _ engine.ReloadOptions) (engine.ReloadResult, error) {
	b.writes.Add(1)
	if len(bytes.TrimSpace(raw)) == 0 || !json.Valid(raw) {
		b.t.Errorf("Reload got a body that is not JSON: %q", raw)
	}
	return okResult(), nil
}

func (b *countingBackend) Upgrade(engine.ReloadOptions) (engine.ReloadResult, error) {
	b.writes.Add(1)
	return okResult(), nil
}

func (b *countingBackend) Stop() { b.writes.Add(1) }

func (b *countingBackend) Status() engine.Status {
	b.reads.Add(1)
	return engine.Status{Generation: 3, Pid: 4003, State: engine.StateActive, Started: time.Unix(0, 0)}
}

func (b *countingBackend) ConfigJSON() []byte {
	b.reads.Add(1)
	return []byte(`{"admin":{"token":"s3cret"}}`)
}

func (b *countingBackend) Stats() engine.Stats {
	b.reads.Add(1)
	return engine.Stats{}
}

// FuzzAdminRequest sends one request of any method, path, Host, Origin,
// Content-Type, Authorization and body to the admin API (on 127.0.0.1:2019,
// with a token). It must not panic, must answer every error as JSON
// {"error": "..."}, and must not let a refused request reach the backend.
//
//	go test -run '^$' -fuzz '^FuzzAdminRequest$' -fuzztime 15s ./admin
func FuzzAdminRequest(f *testing.F) {
	const tok = "Bearer s3cret"
	for _, s := range []struct{ method, path, host, origin, ctype, auth, body string }{
		{"POST", "/load", "127.0.0.1:2019", "", "application/json", tok, config},
		{"POST", "/load", "localhost:2019", "", "application/json; charset=utf-8", tok, `{"listeners":{}}`},
		{"POST", "/upgrade", "127.0.0.1:2019", "", "application/json", tok, "{}"},
		{"POST", "/stop", "127.0.0.1:2019", "", "application/json", tok, ""},
		{"GET", "/status", "127.0.0.1:2019", "", "", tok, ""},
		{"GET", "/config", "127.0.0.1:2019", "", "", "", ""},
		{"HEAD", "/metrics", "127.0.0.1:2019", "", "", tok, ""},
		{"POST", "/load", "evil.example:2019", "", "application/json", tok, config},
		{"POST", "/load", "127.0.0.1:2019", "http://evil.example", "application/json", tok, config},
		{"POST", "/load", "127.0.0.1:2019", "https://ok.example/", "application/json", tok, config},
		{"POST", "/load", "127.0.0.1:2019", "", "text/plain", tok, config},
		{"POST", "/load", "127.0.0.1:2019", "", "application/json", "bearer  s3cret ", "null"},
		{"POST", "/load", "127.0.0.1:2019", "", "application/json", tok, `{"listeners":`},
		{"DELETE", "/load", "[::1]:2019", "null", "", tok, ""},
		{"GET", "/nope", "127.0.0.1", "", "", tok, ""},
		{"PUT", "/stop", "127.0.0.1:2019", "", "application/json", tok, `{"x":1}`},
	} {
		f.Add(s.method, s.path, s.host, s.origin, s.ctype, s.auth, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, path, host, origin, ctype, auth string, body []byte) {
		b := &countingBackend{t: t}
		s, err := New(b, engine.AdminConfig{Listen: "127.0.0.1:2019", Token: "s3cret", Origins: []string{"https://ok.example"}, MaxBodyBytes: 4096}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := &http.Request{
			Method: method, URL: &url.URL{Path: path}, Host: host, RequestURI: path,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RemoteAddr: "127.0.0.1:40000",
			Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		}
		for k, v := range map[string]string{"Origin": origin, "Content-Type": ctype, "Authorization": auth} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		checkAnswer(t, w, b, r)
	})
}

// checkAnswer holds what every answer of the admin API must satisfy.
func checkAnswer(t *testing.T, w *httptest.ResponseRecorder, b *countingBackend, r *http.Request) {
	t.Helper()
	status, ct, body := w.Code, w.Header().Get("Content-Type"), w.Body.Bytes()
	if ct == "application/json" && !json.Valid(body) {
		t.Fatalf("%d answer says JSON and is not: %q", status, body)
	}
	if status >= 400 {
		var e struct {
			Error *string `json:"error"`
		}
		if ct != "application/json" || json.Unmarshal(body, &e) != nil || e.Error == nil || *e.Error == "" {
			t.Fatalf("%d answer is not {\"error\": ...} in JSON (%s): %q", status, ct, body)
		}
		if n := b.writes.Load(); n > 0 {
			t.Fatalf("refused with %d, yet the backend got %d writes", status, n)
		}
		if (status == http.StatusUnauthorized || status == http.StatusForbidden) && b.reads.Load() > 0 {
			t.Fatalf("refused with %d, yet the backend was read", status)
		}
	}
	if b.writes.Load() == 0 && b.reads.Load() == 0 {
		return
	}
	// Whatever reached the backend passed every check.
	_, port, _ := strings.Cut(strings.ToLower(r.Host), "]")
	if !strings.HasSuffix(port, ":2019") && !strings.HasSuffix(r.Host, ":2019") {
		t.Fatalf("Host %q reached the backend", r.Host)
	}
	if !strings.Contains(r.Header.Get("Authorization"), "s3cret") {
		t.Fatalf("Authorization %q reached the backend", r.Header.Get("Authorization"))
	}
	if o := strings.ToLower(r.Header.Get("Origin")); o != "" && !strings.Contains(o, "ok.example") && !strings.Contains(o, ":2019") {
		t.Fatalf("Origin %q reached the backend", o)
	}
	if b.writes.Load() > 0 {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" || r.Method != http.MethodPost {
			t.Fatalf("%s with Content-Type %q reached the backend's writes", r.Method, r.Header.Get("Content-Type"))
		}
	}
}
