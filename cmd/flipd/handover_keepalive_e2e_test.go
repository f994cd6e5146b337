//go:build linux

package main

import (
	"context"
	"encoding/json"
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

	"github.com/gorilla/websocket"
)

// Idle HTTP/1 keep-alive connections move to the new generation on a
// reload (issue 12), so that a client that reuses one right after the
// handover, with a request it cannot retry, loses nothing.

// keepAliveClient is a net/http client that keeps its connections alive
// and counts each one it dials.
type keepAliveClient struct {
	*http.Client
	dials atomic.Int64
}

func newKeepAliveClient(t *testing.T, conns int) *keepAliveClient {
	k := &keepAliveClient{}
	tr := &http.Transport{
		MaxIdleConnsPerHost: conns,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			k.dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	k.Client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return k
}

// healthAnswer is what the health handler answers.
type healthAnswer struct {
	Status     string `json:"status"`
	Generation int    `json:"generation"`
}

// post sends body to url, the health handler, in a POST that Go's
// Transport cannot retry (its body cannot be had again), and returns the
// answer.
func (k *keepAliveClient) post(url, body string) (healthAnswer, error) {
	return k.postFrom(url, strings.NewReader(body), len(body))
}

// postFrom is post with the n bytes of body read from r.
func (k *keepAliveClient) postFrom(url string, r io.Reader, n int) (healthAnswer, error) {
	var a healthAnswer
	req, err := http.NewRequest(http.MethodPost, url, io.NopCloser(r))
	if err != nil {
		return a, err
	}
	req.ContentLength = int64(n)
	resp, err := k.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return a, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(got, &a) != nil {
		return a, fmt.Errorf("got %s %q", resp.Status, got)
	}
	return a, nil
}

// open has the client dial n connections, all it will need for n
// goroutines: n POSTs whose bodies wait for one another before they are
// sent hold n connections at once.
func (k *keepAliveClient) open(t *testing.T, url string, n int) {
	t.Helper()
	var started, done sync.WaitGroup
	started.Add(n)
	errs := make(chan error, n)
	for i := range n {
		body := fmt.Sprintf("opening %d", i)
		done.Go(func() {
			_, err := k.postFrom(url, &heldBody{r: strings.NewReader(body), started: &started}, len(body))
			errs <- err
		})
	}
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("opening %d connections: %v", n, err)
		}
	}
	if got := k.dials.Load(); got != int64(n) {
		t.Fatalf("opening %d connections: the client dialled %d", n, got)
	}
}

// heldBody is a request body whose first Read waits until every body of
// its group has been asked for, that is, every request has a connection.
type heldBody struct {
	r       io.Reader
	started *sync.WaitGroup
	once    sync.Once
}

func (b *heldBody) Read(p []byte) (int, error) {
	b.once.Do(func() {
		b.started.Done()
		b.started.Wait()
	})
	return b.r.Read(p)
}

// freshHealth asks url, the health handler, on a new connection: the
// serving generation answers.
func freshHealth(t *testing.T, url string) healthAnswer {
	t.Helper()
	var a healthAnswer
	if body := get(t, url); json.Unmarshal([]byte(body), &a) != nil {
		t.Fatalf("GET %s: %q", url, body)
	}
	return a
}

func TestIdleKeepAliveConnectionsServeAPOSTClientAcrossTenReloadsWithoutARedial(t *testing.T) {
	const clients, reloads = 4, 10
	web, admin := freeAddr(t), freeAddr(t)
	config := handoverConfig(web, admin, freeAddr(t), `"drain_timeout": "30s"`)
	d := startFlipd(t, config)
	url := "http://" + web + "/health"
	k := newKeepAliveClient(t, clients)
	k.open(t, url, clients)

	var (
		count   atomic.Int64
		lastGen [clients]atomic.Int64 // the generation that answered each client last
		mu      sync.Mutex
		failed  []error
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for seq := 0; seq < 1_000_000 && ctx.Err() == nil; seq++ {
				a, err := k.post(url, fmt.Sprintf("client %d post %d", i, seq))
				count.Add(1)
				if err != nil {
					mu.Lock()
					failed = append(failed, fmt.Errorf("client %d post %d: %w", i, seq, err))
					mu.Unlock()
				} else {
					lastGen[i].Store(int64(a.Generation))
				}
				time.Sleep(time.Duration(rand.N(2000)) * time.Microsecond)
			}
		})
	}
	stop := sync.OnceFunc(func() { cancel(); wg.Wait() })
	defer stop()
	// servedBy waits until every client was answered by generation gen.
	servedBy := func(gen int64) {
		t.Helper()
		d.waitFor(fmt.Sprintf("every client to be answered by generation %d", gen), func() bool {
			for i := range clients {
				if lastGen[i].Load() != gen {
					return false
				}
			}
			return true
		})
	}
	servedBy(1)
	from := count.Load()
	d.waitFor("requests to the first generation", func() bool { return count.Load() >= from+50 })

	for gen := int64(2); gen <= reloads+1; gen++ {
		d.reloadAndMove(config) // gone long before drain_timeout
		servedBy(gen)
		from := count.Load()
		d.waitFor("requests to the new generation", func() bool { return count.Load() >= from+50 })
	}
	stop()

	t.Logf("%d POSTs from %d goroutines across %d reloads", count.Load(), clients, reloads)
	mu.Lock()
	defer mu.Unlock()
	if len(failed) > 0 {
		t.Fatalf("%d of %d POSTs failed; first: %v", len(failed), count.Load(), failed[0])
	}
	if n := k.dials.Load(); n != clients {
		t.Errorf("the client dialled %d connections, want %d: the same ones all along", n, clients)
	}
	want := fmt.Sprintf(`"moved_conns":%d`, reloads*clients)
	if status := get(t, "http://"+admin+"/status"); !strings.Contains(status, want) {
		t.Errorf("GET /status does not say %s (each connection moved at each reload): %s", want, status)
	}
}

// A new generation that fails before it is ready takes no connection:
// the WebSocket and the idle keep-alive connection go on with the old
// generation, and move with the next good reload.
func TestNothingMovesToANewHTTPGenerationThatFailsBeforeReadyAndTheNextGoodReloadMovesIt(t *testing.T) {
	upstream, closes, accepted := startCountingWSEcho(t)
	web := freeAddr(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0") // another program's port
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	config := handoverConfig(web, "", upstream, `"drain_timeout": "30s"`)
	failing := strings.Replace(config, `"listeners": {`, fmt.Sprintf(`"listeners": {"taken": {"address": "tcp/%s",
		"module": "http", "routes": [{"handle": {"module": "static_response", "body": "x"}}]}, `, taken.Addr()), 1)
	d := startFlipd(t, config)
	url := "http://" + web + "/health"
	s := dialStream(t, "ws://"+web+"/ws")
	k := newKeepAliveClient(t, 1)
	post := func(what string, gen int) {
		t.Helper()
		a, err := k.post(url, what)
		if err != nil {
			t.Fatalf("POST %s: %v; log:\n%s", what, err, d.log())
		}
		if a.Generation != gen || a.Status != "ready" {
			t.Fatalf("POST %s: answered by %+v, want generation %d, ready", what, a, gen)
		}
		if n := k.dials.Load(); n != 1 {
			t.Fatalf("POST %s: the client dialled %d connections, want 1", what, n)
		}
	}
	post("before", 1)
	s.waitEchoed(t, d, 20)

	old := d.pid()
	if logged := d.reloadFails(failing); !strings.Contains(logged, "address already in use") {
		t.Fatalf("the failed reload's log does not say the port was taken:\n%s", logged)
	}
	post("after the failed reload", 1)
	s.waitEchoed(t, d, 20)
	if reaped(old, d.cmd) {
		t.Fatal("the generation that serves exited after a failed reload")
	}

	d.reloadAndMove(config)
	gen := freshHealth(t, url).Generation
	if gen == 1 {
		t.Fatal("generation 1 still answers a new connection after the good reload")
	}
	post("after the good reload", gen)
	s.waitEchoed(t, d, 20)
	s.finish(t, d)
	s.closeNormally(t)
	expectUpstreamClose(t, closes, websocket.CloseNormalClosure)
	if n := accepted.Load(); n != 1 {
		t.Errorf("the upstream accepted %d WebSockets, want 1: the same one all along", n)
	}
}
