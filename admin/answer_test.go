package admin

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd/engine"
)

// The answer to a reload is on its way to the client before the request
// is logged: the log line is not part of the round trip a reload costs.
// The request's log line here waits until the client has the answer.
func TestAReloadIsAnsweredBeforeItsRequestIsLogged(t *testing.T) {
	answered := make(chan struct{})
	out := &gatedWriter{gate: answered, hold: "path=/load"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := serveLogged(t, newFake(), engine.AdminConfig{Listen: "127.0.0.1:0"}, ln, hclog.New(&hclog.LoggerOptions{Output: out}))
	defer close(answered) // before the cleanup drains: the log line may still wait

	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Post(ts.url+"/load", "application/json", strings.NewReader(config))
	if err != nil {
		t.Fatalf("no answer while the request's log line waited: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !resp.Close || !bytes.Contains(body, []byte(`"generation"`)) {
		t.Errorf("answer %d %q (close %v, %v): want 200, the result and Connection: close", resp.StatusCode, body, resp.Close, err)
	}
}

// gatedWriter holds a log line containing hold until gate closes (for at
// most 10 seconds, so that a failing test ends).
type gatedWriter struct {
	gate <-chan struct{}
	hold string
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(w.hold)) {
		select {
		case <-w.gate:
		case <-time.After(10 * time.Second):
		}
	}
	return len(p), nil
}

// StopAccepting, which the runtime calls once a reload has handed over,
// closes the admin listener before the reload is answered: a client's
// next request, on a new connection, then reaches the new generation
// (which shares the socket) rather than this one. A connection open
// already is still served, and Serve returns nil.
func TestStopAcceptingLeavesOpenConnectionsServed(t *testing.T) {
	ts := startServer(t, newFake(), engine.AdminConfig{})
	kept := ts.client
	url := ts.url
	get := func(c *http.Client) (int, error) {
		resp, err := c.Get(url + "/status")
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if status, err := get(kept); err != nil || status != http.StatusOK {
		t.Fatalf("GET /status: %d %v", status, err)
	}
	ts.StopAccepting()
	select {
	case err := <-ts.served:
		ts.served <- err // for the cleanup, which checks it too
		if err != nil {
			t.Errorf("Serve: %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Serve did not return once the listener was closed")
	}
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	if status, err := get(fresh); err == nil {
		t.Errorf("a new connection was served after StopAccepting: %d", status)
	}
	if status, err := get(kept); err != nil || status != http.StatusOK {
		t.Errorf("the connection kept alive from before: %d %v, want 200", status, err)
	}
}
