//go:build unix

package drain_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flipd/flipd/drain"
)

// A keep-alive client that POSTs in a loop, pausing between requests for
// about as long as the old server's IdleGrace, loses no request across
// handovers: each old server's idle connections move to the next one,
// which answers the requests sent on them after the move. (The drain
// without moves closes idle connections once the grace is over, just as
// the client may reuse one, and POSTs, which no client retries, fail:
// this test failed so before MoveIdle.)
func TestKeepAliveClientLosesNoPOSTWhileIdleConnectionsMove(t *testing.T) {
	const (
		clients       = 8
		handovers     = 10
		perGeneration = 150
	)
	opts := drain.Options{IdleGrace: time.Millisecond, CloseWindow: -1}
	ln := listen(t)
	cur := serve(t, ln, named("gen0"), opts)
	load := startPostLoad(t, clients, "http://"+ln.Addr().String()+"/")

	var moved int64
	for i := 1; i <= handovers; i++ {
		from := load.total()
		waitFor(t, "requests to the current server", func() bool { return load.total() >= from+perGeneration })
		next := serve(t, dup(t, cur.ln), named(fmt.Sprintf("gen%d", i)), opts)
		m := newFDMover(t, next.d.Adopt)
		cur.d.MoveIdle(m.move)
		cur.shutdown(t, 10*time.Second)
		load.drained(fmt.Sprintf("gen%d", i-1))
		moved += m.moved.Load()
		cur = next
	}
	from := load.total()
	waitFor(t, "requests to the last server", func() bool { return load.total() >= from+perGeneration })
	load.stop()
	cur.shutdown(t, 10*time.Second)

	t.Logf("%d requests, %d connections moved in %d handovers, %d dialed", load.total(), moved, handovers, load.dials.Load())
	if n, first := load.failures(); n > 0 {
		t.Fatalf("%d of %d POSTs failed; first: %v", n, load.total(), first)
	}
	if n := load.late.Load(); n > 0 {
		t.Errorf("%d POSTs sent after their server had drained were answered by it", n)
	}
	if moved == 0 {
		t.Error("no connection moved")
	}
}

// postLoad is keep-alive clients that share one pool of connections and
// POST in a loop, with short random pauses.
type postLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	dials  atomic.Int64
	late   atomic.Int64 // answered by a server that had drained before the request
	count  atomic.Int64

	mu      sync.Mutex
	gone    map[string]bool // servers that have drained
	nFailed int
	first   error
}

func startPostLoad(t *testing.T, clients int, url string) *postLoad {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &postLoad{cancel: cancel, gone: make(map[string]bool)}
	t.Cleanup(l.stop)
	dialer := &net.Dialer{}
	tr := &http.Transport{
		MaxIdleConnsPerHost: clients,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			l.dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for i := range clients {
		l.wg.Go(func() {
			defer tr.CloseIdleConnections()
			for seq := 0; seq < 1_000_000 && ctx.Err() == nil; seq++ {
				l.post(client, url, fmt.Sprintf("client %d post %d", i, seq))
				time.Sleep(time.Duration(rand.N(2500)) * time.Microsecond)
			}
		})
	}
	return l
}

func (l *postLoad) post(client *http.Client, url, body string) {
	l.mu.Lock()
	gone := make(map[string]bool, len(l.gone))
	for k := range l.gone {
		gone[k] = true
	}
	l.mu.Unlock()
	resp, err := client.Do(noRetryPost(url, body))
	if err == nil {
		var got []byte
		got, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
		case resp.StatusCode != http.StatusOK || string(got) != body:
			err = fmt.Errorf("got %s %q, want 200 %q", resp.Status, got, body)
		case gone[resp.Header.Get("Server-Name")]:
			l.late.Add(1)
		}
	}
	l.count.Add(1)
	if err != nil {
		l.mu.Lock()
		l.nFailed++
		if l.first == nil {
			l.first = err
		}
		l.mu.Unlock()
	}
}

// drained records that the server named name has drained.
func (l *postLoad) drained(name string) {
	l.mu.Lock()
	l.gone[name] = true
	l.mu.Unlock()
}

func (l *postLoad) total() int64 { return l.count.Load() }

func (l *postLoad) failures() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nFailed, l.first
}

func (l *postLoad) stop() {
	l.cancel()
	l.wg.Wait()
}
