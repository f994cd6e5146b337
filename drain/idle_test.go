package drain_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/flipd/flipd/drain"
)

// idleConns opens n keep-alive connections to addr, sends one request on
// each, and leaves them idle.
func idleConns(t *testing.T, addr string, n int) []*rawConn {
	t.Helper()
	conns := make([]*rawConn, n)
	for i := range conns {
		conns[i] = dialRaw(t, addr)
		resp, _ := conns[i].post(t, "warm-up")
		if resp.Close {
			t.Fatal("response before the drain has Connection: close")
		}
	}
	return conns
}

// A client's pool may hold connections idle for longer than IdleGrace when
// a drain begins, and it may take any of them at that moment. Each is
// still answered, with "Connection: close", for IdleGrace after the drain
// began.
func TestLongIdleConnectionsServeOnceMoreAfterTheDrainBegins(t *testing.T) {
	const (
		grace = time.Second
		n     = 8
	)
	ln := listen(t)
	g := serve(t, ln, echo, drain.Options{IdleGrace: grace})
	conns := idleConns(t, ln.Addr().String(), n)
	time.Sleep(grace + grace/4) // idle for longer than the grace

	done := g.shutdownAsync(t, 10*time.Second)
	// Give the drain a moment to act, as a client's request may.
	time.Sleep(50 * time.Millisecond)
	for i, c := range conns {
		resp, body, err := c.tryPost(fmt.Sprintf("after %d", i))
		if err != nil {
			t.Fatalf("connection %d of %d, idle for more than %v before the drain: %v", i+1, n, grace, err)
		}
		if resp.StatusCode != http.StatusOK || body != fmt.Sprintf("after %d", i) {
			t.Fatalf("connection %d: got %s %q", i+1, resp.Status, body)
		}
		if !resp.Close {
			t.Errorf("connection %d: response lacks Connection: close", i+1)
		}
		c.expectClosed(t)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// Connections that stay silent are closed no sooner than IdleGrace after
// the drain began, however long they were idle before, and not all at
// the same instant but spread over CloseWindow.
func TestSilentConnectionsCloseAfterTheGraceAndSpread(t *testing.T) {
	const (
		grace  = 300 * time.Millisecond
		window = 400 * time.Millisecond
		n      = 8
	)
	ln := listen(t)
	g := serve(t, ln, echo, drain.Options{IdleGrace: grace, CloseWindow: window})
	conns := idleConns(t, ln.Addr().String(), n)
	time.Sleep(2 * grace)

	closedAt := make(chan time.Time, n)
	for _, c := range conns {
		go func() {
			c.r.Read(make([]byte, 1)) // returns when the server closes
			closedAt <- time.Now()
		}()
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- g.d.Shutdown(ctx)
	}()
	var after []time.Duration
	for range n {
		after = append(after, (<-closedAt).Sub(start))
	}
	slices.Sort(after)
	if after[0] < grace {
		t.Errorf("a connection was closed %v after the drain began, before the %v grace", after[0], grace)
	}
	if last := after[n-1]; last < grace+window/2 {
		t.Errorf("the last connection was closed %v after the drain began, want the closes spread over the %v after the %v grace: %v",
			last, window, grace, after)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
