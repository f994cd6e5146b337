package flipdhttp

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flipd/flipd/flipdtest"
)

// generation is an http server serving on its copy of a shared socket.
func generation(t *testing.T, ln net.Listener, name string) *testServer {
	t.Helper()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	own, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	logger, logs := newTestLogger(t)
	srv, err := load(t, logger, `{"module": "http", "drain_idle_grace": "1ms", "routes": [
		{"handle": {"module": "static_response", "body": "ok", "headers": {"Generation": ["`+name+`"]}}}
	]}`)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, addr: ln.Addr().String(), logs: logs, served: make(chan error, 1)}
	go func() { ts.served <- srv.Serve(own) }()
	t.Cleanup(func() {
		if !ts.drained {
			ts.drainAndWait(t)
		}
	})
	return ts
}

// Keep-alive clients that POST in a loop (POSTs are not retried) lose
// nothing across handovers with a tight drain_idle_grace: the old
// generation's idle connections move to the new one, which answers every
// request sent after the old one drained. (Without MoveConns the drain
// closes connections as clients reuse them, and POSTs fail.)
func TestIdleKeepAliveConnectionsMoveToTheNewGeneration(t *testing.T) {
	const (
		clients       = 8
		handovers     = 8
		perGeneration = 150
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cur := generation(t, ln, "gen0")

	var (
		count, late atomic.Int64
		mu          sync.Mutex
		gone        = map[string]bool{}
		failed      []error
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: testTimeout}
	for i := range clients {
		wg.Go(func() {
			for seq := 0; seq < 1_000_000 && ctx.Err() == nil; seq++ {
				mu.Lock()
				before := make(map[string]bool, len(gone))
				for k := range gone {
					before[k] = true
				}
				mu.Unlock()
				gen, err := postOnce(client, "http://"+ln.Addr().String()+"/", fmt.Sprintf("client %d post %d", i, seq))
				count.Add(1)
				if err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
				} else if before[gen] {
					late.Add(1)
				}
				time.Sleep(time.Duration(rand.N(2500)) * time.Microsecond)
			}
		})
	}
	stop := sync.OnceFunc(func() { cancel(); wg.Wait() })
	defer stop()

	var moved int64
	for i := 1; i <= handovers; i++ {
		from := count.Load()
		waitFor(t, "requests to the current generation", func() bool { return count.Load() >= from+perGeneration })
		next := generation(t, ln, fmt.Sprintf("gen%d", i))
		sink := flipdtest.NewMoveSink(t, next.Server.AdoptConn)
		cur.MoveConns(sink)
		cur.drainAndWait(t)
		mu.Lock()
		gone[fmt.Sprintf("gen%d", i-1)] = true
		mu.Unlock()
		moved += sink.Moved()
		cur = next
	}
	from := count.Load()
	waitFor(t, "requests to the last generation", func() bool { return count.Load() >= from+perGeneration })
	stop()

	t.Logf("%d POSTs, %d connections moved in %d handovers", count.Load(), moved, handovers)
	mu.Lock()
	defer mu.Unlock()
	if len(failed) > 0 {
		t.Fatalf("%d of %d POSTs failed; first: %v", len(failed), count.Load(), failed[0])
	}
	if n := late.Load(); n > 0 {
		t.Errorf("%d POSTs sent after their generation had drained were answered by it", n)
	}
	if moved == 0 {
		t.Error("no connection moved")
	}
}

// postOnce sends a POST that Go's Transport does not retry (its body
// cannot be had again) and says which generation answered.
func postOnce(c *http.Client, url, body string) (string, error) {
	req, err := http.NewRequest(http.MethodPost, url, io.NopCloser(strings.NewReader(body)))
	if err != nil {
		return "", err
	}
	req.ContentLength = int64(len(body))
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK || string(got) != "ok" {
		return "", fmt.Errorf("got %s %q", resp.Status, got)
	}
	return resp.Header.Get("Generation"), nil
}
