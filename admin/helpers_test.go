package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/engine"
)

// fakeBackend is a Backend whose answers the test chooses.
type fakeBackend struct {
	mu       sync.Mutex
	reload   func(raw []byte, opts engine.ReloadOptions) (engine.ReloadResult, error)
	upgrade  func(opts engine.ReloadOptions) (engine.ReloadResult, error)
	status   engine.Status
	stats    engine.Stats
	config   []byte
	calls    []string // "reload", "upgrade"
	lastRaw  []byte
	lastOpts engine.ReloadOptions
	stopped  chan struct{}
}

func newFake() *fakeBackend {
	return &fakeBackend{
		status:  engine.Status{Generation: 3, Pid: 4003, State: engine.StateActive, Started: time.Now().Add(-time.Minute), Uptime: flipd.Duration(time.Minute), Source: "api"},
		config:  []byte(`{"listeners":{}}`),
		stopped: make(chan struct{}),
	}
}

func (f *fakeBackend) Reload(raw []byte, opts engine.ReloadOptions) (engine.ReloadResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "reload")
	f.lastRaw, f.lastOpts = raw, opts
	fn := f.reload
	f.mu.Unlock()
	if fn == nil {
		return okResult(), nil
	}
	return fn(raw, opts)
}

func (f *fakeBackend) Upgrade(opts engine.ReloadOptions) (engine.ReloadResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "upgrade")
	f.lastOpts = opts
	fn := f.upgrade
	f.mu.Unlock()
	if fn == nil {
		return okResult(), nil
	}
	return fn(opts)
}

func (f *fakeBackend) Stop() { close(f.stopped) }

func (f *fakeBackend) Status() engine.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *fakeBackend) ConfigJSON() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.config
}

func (f *fakeBackend) Stats() engine.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *fakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func okResult() engine.ReloadResult {
	return engine.ReloadResult{
		Generation: 4, Pid: 4004, Duration: flipd.Duration(6 * time.Millisecond),
		Draining: engine.OlderGeneration{Generation: 3, Pid: 4003, State: engine.StateDraining},
		Drains:   2,
	}
}

// testServer is a Server serving on a real socket, and a client for it.
type testServer struct {
	*Server
	url    string // "http://127.0.0.1:port"
	host   string // "127.0.0.1:port"
	client *http.Client
	served chan error
}

// startServer serves a Server for b on 127.0.0.1, on a port of the
// kernel's choosing unless cfg.Listen names one.
func startServer(t *testing.T, b Backend, cfg engine.AdminConfig) *testServer {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	addr, err := cfg.Address()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen(addr.Network, addr.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, b, cfg, ln)
}

func serveOn(t *testing.T, b Backend, cfg engine.AdminConfig, ln net.Listener) *testServer {
	t.Helper()
	return serveLogged(t, b, cfg, ln, hclog.New(&hclog.LoggerOptions{Output: testWriter{t}, Level: hclog.Debug}))
}

// serveLogged is serveOn with the server's logs going to log.
func serveLogged(t *testing.T, b Backend, cfg engine.AdminConfig, ln net.Listener, log hclog.Logger) *testServer {
	t.Helper()
	s, err := New(b, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, served: make(chan error, 1)}
	tr := &http.Transport{}
	if ln.Addr().Network() == "unix" {
		path := ln.Addr().String()
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		ts.host = "localhost"
	} else {
		ts.host = ln.Addr().String()
	}
	ts.url = "http://" + ts.host
	ts.client = &http.Client{Transport: tr, Timeout: 20 * time.Second}
	go func() { ts.served <- s.Serve(ln) }()
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Drain(ctx); err != nil {
			t.Errorf("Drain: %v", err)
		}
		if err := <-ts.served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ts
}

// testWriter sends the server's logs to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// request describes one request to send.
type request struct {
	method, path string
	body         string
	header       map[string]string // "Host" sets the Host header
}

// response is what came back.
type response struct {
	status int
	header http.Header
	body   []byte
	closed bool // the answer said "Connection: close"
}

// json decodes the body as a JSON object.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// do sends req; POSTs get "Content-Type: application/json" unless the
// header says otherwise ("" removes it).
func (ts *testServer) do(t *testing.T, req request) response {
	t.Helper()
	resp, err := ts.send(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.method, req.path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

func (ts *testServer) send(req request) (*http.Response, error) {
	var body io.Reader
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	r, err := http.NewRequest(req.method, ts.url+req.path, body)
	if err != nil {
		return nil, err
	}
	if req.method == http.MethodPost {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range req.header {
		switch {
		case k == "Host":
			r.Host = v
		case v == "":
			r.Header.Del(k)
		default:
			r.Header.Set(k, v)
		}
	}
	return ts.client.Do(r)
}

// wantError checks an error answer: its status, JSON content type, and
// that its message contains want.
func wantError(t *testing.T, r response, status int, want string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	msg, _ := r.json(t)["error"].(string)
	if msg == "" || !strings.Contains(msg, want) {
		t.Errorf("error %q, want it to contain %q", msg, want)
	}
}

var errOther = errors.New("something else broke")
