package flipdhttp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd/flipdtest"
	"github.com/flipd/flipd/internal/poll"
)

// testTimeout bounds every wait of these tests, so that a bug fails a
// test instead of hanging it.
const testTimeout = 10 * time.Second

// logBuffer collects a test's logs.
type logBuffer = flipdtest.Buffer

func newTestLogger(t *testing.T) (hclog.Logger, *logBuffer) { return flipdtest.NewLogger(t) }

// load provisions a listener module from raw, whose "module" key is
// "http", as the runtime would; the config is discarded when t ends.
func load(t *testing.T, logger hclog.Logger, raw string) (*Server, error) {
	t.Helper()
	mod, err := flipdtest.Load(t, logger, "listeners", json.RawMessage(raw))
	if err != nil {
		return nil, err
	}
	return mod.(*Server), nil
}

// testServer is a Server serving on a loopback port.
type testServer struct {
	*Server
	addr    string // host:port
	logs    *logBuffer
	served  chan error
	drained bool
}

// start provisions the listener described by raw and serves it on
// 127.0.0.1; it drains when t ends. wrap, if not nil, wraps the listener
// (as the runtime's listener wrappers do).
func start(t *testing.T, raw string, wrap func(net.Listener) net.Listener) *testServer {
	t.Helper()
	logger, logs := newTestLogger(t)
	srv, err := load(t, logger, raw)
	if err != nil {
		t.Fatalf("loading %s: %v", raw, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, addr: ln.Addr().String(), logs: logs, served: make(chan error, 1)}
	var serveLn net.Listener = ln
	if wrap != nil {
		serveLn = wrap(ln)
	}
	go func() { ts.served <- srv.Serve(serveLn) }()
	t.Cleanup(func() {
		if !ts.drained {
			ts.drainAndWait(t)
		}
	})
	return ts
}

// drainAndWait drains the server and checks that Drain and Serve return nil.
func (ts *testServer) drainAndWait(t *testing.T) {
	t.Helper()
	ts.drained = true
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := ts.Drain(ctx); err != nil {
		t.Errorf("Drain: %v", err)
	}
	select {
	case err := <-ts.served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(testTimeout):
		t.Errorf("Serve did not return after Drain")
	}
}

func (ts *testServer) url(path string) string { return "http://" + ts.addr + path }

// newClient returns a client of its own, so that tests do not share
// connections, with its idle connections closed when t ends.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport: tr,
		Timeout:   testTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// response is what the tests look at in an answer.
type response struct {
	status int
	header http.Header
	body   string
	close  bool
}

// do sends a request with the given method, URL and Host header (none:
// the URL's) and reads the whole answer.
func do(t *testing.T, c *http.Client, method, url, host string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(body), close: resp.Close}
}

// rawDo sends a request line exactly as given, which Go's client would
// not always do (it may clean or escape the target), and reads the answer.
func rawDo(t *testing.T, addr, method, target, host string) response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(testTimeout))
	if host == "" {
		host = addr
	}
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", method, target, host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, target, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(body), close: resp.Close}
}

// static returns the JSON of a static_response handler answering body.
func static(body string) string {
	b, _ := json.Marshal(body)
	return `{"module": "static_response", "body": ` + string(b) + `}`
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, testTimeout, what, cond)
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
