package drain_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flipd/flipd/drain"
)

// TestHTTP2GetsGoawayWhileHTTP1IsBusy is the review's repro: one slow
// HTTP/1 request keeps the old generation draining while HTTP/2 clients
// POST without pause. The HTTP/2 connections must be sent GOAWAY as the
// drain begins, not once the HTTP/1 request is done, so that their
// clients move to the new generation while the slow request still runs,
// and not one POST fails.
func TestHTTP2GetsGoawayWhileHTTP1IsBusy(t *testing.T) {
	for _, tt := range []struct {
		name string
		tls  bool
	}{
		{"h2 over tls", true},
		{"h2c", false},
	} {
		t.Run(tt.name, func(t *testing.T) { testGoawayWhileHTTP1Busy(t, tt.tls) })
	}
}

func testGoawayWhileHTTP1Busy(t *testing.T, useTLS bool) {
	const h2Clients = 4
	cert, pool := selfSigned(t)
	ln := listen(t)
	slow, entered, release := blocking(t)
	oldGen := newH2Server(t, ln, useTLS, cert, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			slow.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Generation", "old")
		echo.ServeHTTP(w, r)
	})

	// The HTTP/2 clients open their connections to the old generation,
	// before the new one accepts.
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	url := scheme + "://" + ln.Addr().String() + "/"
	load := startH2Load(t, h2Clients, url, useTLS, pool)
	waitFor(t, "every HTTP/2 client to be served", func() bool { return load.served("old") >= h2Clients })
	waitFor(t, "the HTTP/2 connections to be tracked", func() bool {
		return countProto(oldGen.Protocols(), 2) == h2Clients
	})

	slowDone := make(chan error, 1)
	go func() {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}} // HTTP/1 only
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Post(url+"slow", "text/plain", strings.NewReader("slow"))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		slowDone <- err
	}()
	<-entered

	newH2Server(t, dup(t, ln), useTLS, cert, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Generation", "new")
		echo.ServeHTTP(w, r)
	})
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- oldGen.Shutdown(ctx)
	}()
	waitFor(t, "the drain to start", oldGen.Draining)

	// GOAWAY at the start of the drain: the HTTP/2 clients leave while the
	// HTTP/1 request still runs.
	deadline := time.Now().Add(5 * time.Second)
	for countProto(oldGen.Protocols(), 2) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the old generation still holds %d HTTP/2 connections 5s into its drain, with an HTTP/1 request in flight: no GOAWAY",
				countProto(oldGen.Protocols(), 2))
		}
		time.Sleep(2 * time.Millisecond)
	}
	servedNew := load.served("new")
	waitFor(t, "the HTTP/2 clients to be served by the new generation", func() bool {
		return load.served("new") >= servedNew+h2Clients
	})
	select {
	case err := <-slowDone:
		t.Fatalf("the slow HTTP/1 request ended (%v) before it was released", err)
	default:
	}

	load.stop()
	release()
	if err := <-slowDone; err != nil {
		t.Errorf("slow HTTP/1 request: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n, errs := load.failures(); n > 0 {
		t.Errorf("%d of %d HTTP/2 POSTs failed: %v", n, load.total(), errs)
	}
	t.Logf("HTTP/2 POSTs: %d by the old generation, %d by the new", load.served("old"), load.served("new"))
}

// newH2Server serves h on ln through a drain.Server that speaks HTTP/1 and
// HTTP/2: over TLS, or in cleartext with prior knowledge (h2c).
func newH2Server(t *testing.T, ln net.Listener, useTLS bool, cert tls.Certificate, h http.HandlerFunc) *drain.Server {
	t.Helper()
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	if useTLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	} else {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	d := drain.New(srv, drain.Options{IdleGrace: 100 * time.Millisecond})
	go func() {
		if useTLS {
			d.ServeTLS(ln, "", "")
		} else {
			d.Serve(ln)
		}
	}()
	t.Cleanup(func() { srv.Close() })
	return d
}

func countProto(protos []int, major int) int {
	n := 0
	for _, p := range protos {
		if p == major {
			n++
		}
	}
	return n
}

// h2Load is HTTP/2 clients that POST in a loop, each over a connection of
// its own, and count the answers by the generation that gave them.
type h2Load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	byGen  map[string]int
	failed []string
}

func startH2Load(t *testing.T, clients int, url string, useTLS bool, pool *x509.CertPool) *h2Load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &h2Load{cancel: cancel, byGen: make(map[string]int)}
	t.Cleanup(l.stop)
	for i := range clients {
		tr := &http.Transport{Protocols: new(http.Protocols)}
		if useTLS {
			tr.TLSClientConfig = &tls.Config{RootCAs: pool}
			tr.Protocols.SetHTTP2(true)
		} else {
			tr.Protocols.SetUnencryptedHTTP2(true)
		}
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		l.wg.Go(func() {
			defer tr.CloseIdleConnections()
			for seq := 0; seq < 100_000 && ctx.Err() == nil; seq++ {
				l.record(post(client, url, fmt.Sprintf("client %d post %d", i, seq)))
			}
		})
	}
	return l
}

// post sends one POST and says which generation answered.
func post(c *http.Client, url, body string) (gen string, err error) {
	resp, err := c.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return "", fmt.Errorf("reading the answer: %w", err)
	case resp.ProtoMajor != 2:
		return "", fmt.Errorf("answered over %s, want HTTP/2", resp.Proto)
	case resp.StatusCode != http.StatusOK || string(got) != body:
		return "", fmt.Errorf("got %s %q, want 200 %q", resp.Status, got, body)
	}
	return resp.Header.Get("Generation"), nil
}

func (l *h2Load) record(gen string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failed = append(l.failed, err.Error())
		return
	}
	l.byGen[gen]++
}

func (l *h2Load) served(gen string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byGen[gen]
}

func (l *h2Load) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.failed)
	for _, c := range l.byGen {
		n += c
	}
	return n
}

func (l *h2Load) failures() (int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.failed), slices.Clone(l.failed[:min(len(l.failed), 5)])
}

func (l *h2Load) stop() {
	l.cancel()
	l.wg.Wait()
}
