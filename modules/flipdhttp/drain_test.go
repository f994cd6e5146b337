package flipdhttp

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestDrain drains a server with a slow request in flight and an idle
// keep-alive connection: the request completes, with "Connection: close",
// the idle connection is closed after the grace period, and no new
// connection is accepted.
func TestDrain(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "slow done")
	}))
	defer slow.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release) // the test failed early: let slow.Close return
		}
	}()

	ts := start(t, `{"module": "http", "drain_idle_grace": "100ms", "routes": [
		{"match": {"path": "/slow"}, "handle": {"module": "reverse_proxy", "upstreams": ["`+slow.Listener.Addr().String()+`"]}},
		{"handle": `+static("ok")+`}
	]}`, nil)

	// A keep-alive connection, idle once answered.
	idle := newClient(t)
	if got := do(t, idle, "GET", ts.url("/"), ""); got.status != 200 || got.close {
		t.Fatalf("before the drain: %d, close %v", got.status, got.close)
	}

	type result struct {
		resp response
		err  error
	}
	slowDone := make(chan result, 1)
	go func() {
		resp, err := newClient(t).Get(ts.url("/slow"))
		if err != nil {
			slowDone <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		slowDone <- result{response{status: resp.StatusCode, body: string(body), close: resp.Close}, err}
	}()
	select {
	case <-started:
	case <-time.After(testTimeout):
		t.Fatal("the slow request did not reach the upstream")
	}
	if n := ts.OpenConns(); n != 2 {
		t.Errorf("OpenConns before the drain = %d, want 2", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	drained := make(chan error, 1)
	ts.drained = true
	go func() { drained <- ts.Drain(ctx) }()

	waitFor(t, "the drain to start", ts.Server.drain.Draining)
	waitFor(t, "the idle connection to be closed", func() bool { return ts.OpenConns() == 1 })
	if c, err := net.DialTimeout("tcp", ts.addr, testTimeout); err == nil {
		c.Close()
		t.Error("a new connection was accepted during the drain")
	}
	select {
	case err := <-drained:
		t.Fatalf("Drain returned with a request in flight: %v", err)
	case <-time.After(50 * time.Millisecond):
	}

	close(release)
	res := <-slowDone
	if res.err != nil {
		t.Fatalf("slow request: %v", res.err)
	}
	if res.resp.status != 200 || res.resp.body != "slow done" || !res.resp.close {
		t.Errorf("slow request = %d %q close=%v, want 200 \"slow done\" with Connection: close",
			res.resp.status, res.resp.body, res.resp.close)
	}

	select {
	case err := <-drained:
		if err != nil {
			t.Errorf("Drain: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Drain did not return once the request was done")
	}
	select {
	case err := <-ts.served:
		if err != nil {
			t.Errorf("Serve after Drain = %v, want nil", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Serve did not return after Drain")
	}
	if n := ts.OpenConns(); n != 0 {
		t.Errorf("OpenConns after the drain = %d", n)
	}
}

// TestDrainTimeout checks that a drain whose context ends closes what is
// left and says so.
func TestDrainTimeout(t *testing.T) {
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer stuck.Close()
	defer close(release)

	ts := start(t, `{"module": "http", "routes": [
		{"handle": {"module": "reverse_proxy", "upstreams": ["`+stuck.Listener.Addr().String()+`"]}}
	]}`, nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := newClient(t).Get(ts.url("/"))
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, "the request to be in flight", func() bool { return ts.OpenConns() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	ts.drained = true
	err := ts.Drain(ctx)
	if err == nil {
		t.Fatal("Drain with a stuck request returned nil")
	}
	if want := "closed 1 connection"; !strings.Contains(err.Error(), want) {
		t.Errorf("Drain = %v, want it to say %q", err, want)
	}
	select {
	case <-errc:
	case <-time.After(testTimeout):
		t.Fatal("the client was not cut off")
	}
	<-ts.served
}
