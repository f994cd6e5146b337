package drain_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flipd/flipd/drain"
)

// TestHandover hands a listening socket back and forth between two server
// generations, as an upgrade does, while clients POST without pause. Not a
// single request may fail: POST is not retried by clients, so every
// connection the old generation cuts short shows up as an error here.
func TestHandover(t *testing.T) {
	tests := []struct {
		name              string
		disableKeepAlives bool
	}{
		{"keep-alive", false},
		{"connection per request", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testHandover(t, tt.disableKeepAlives)
		})
	}
}

func testHandover(t *testing.T, disableKeepAlives bool) {
	const (
		clients = 16
		cycles  = 20
		// Each generation serves this many requests before handing over,
		// so every generation drains connections in use.
		perGeneration = 100
	)

	ln := listen(t)
	url := "http://" + ln.Addr().String() + "/"
	var served atomic.Int64
	counting := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		echo.ServeHTTP(w, r)
	})
	cur := serve(t, ln, counting, drain.Options{})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var requests, failures atomic.Int64
	var firstErr sync.Once
	var firstFailure error
	fail := func(err error) {
		failures.Add(1)
		firstErr.Do(func() { firstFailure = err })
	}
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{DisableKeepAlives: disableKeepAlives, MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for n := 0; n < 100_000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf("client %d request %d", i, n)
				requests.Add(1)
				resp, err := client.Post(url, "text/plain", strings.NewReader(body))
				if err != nil {
					fail(err)
					continue
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					fail(fmt.Errorf("reading response: %w", err))
				case resp.StatusCode != http.StatusOK:
					fail(fmt.Errorf("status %s", resp.Status))
				case string(got) != body:
					fail(fmt.Errorf("got body %q, want %q", got, body))
				}
			}
		}()
	}
	stopClients := func() {
		close(stop)
		wg.Wait()
	}
	defer func() {
		select {
		case <-stop:
		default:
			stopClients()
		}
	}()

	for range cycles {
		from := served.Load()
		waitFor(t, "requests to the current generation", func() bool { return served.Load() >= from+perGeneration })
		next := serve(t, dup(t, cur.ln), counting, drain.Options{})
		cur.shutdown(t, 10*time.Second)
		cur = next
	}
	from := served.Load()
	waitFor(t, "requests to the last generation", func() bool { return served.Load() >= from+perGeneration })
	stopClients()
	cur.shutdown(t, 10*time.Second)

	t.Logf("%d requests, %d failed, %d handovers", requests.Load(), failures.Load(), cycles)
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed; first: %v", n, requests.Load(), firstFailure)
	}
}
