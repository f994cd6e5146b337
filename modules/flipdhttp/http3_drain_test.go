//go:build unix

package flipdhttp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// A connection whose handshake completes after the drain began (here:
// no successor reads the socket, so a new client still reaches this
// generation; after an upgrade, one whose handshake straddled the
// handover) must be answered: told GOAWAY, so that its client goes
// elsewhere, never left unaccepted with its requests hanging until the
// client's timeout and then refused.
func TestHTTP3AConnectionOpenedDuringTheDrainIsToldGoawayNotLeftHanging(t *testing.T) {
	slowUp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * time.Second)
		io.WriteString(w, "slow")
	}))
	defer slowUp.Close()
	ts, clientTLS := startH3(t, `{"module": "http", "http3": true, "routes": [
		{"match": {"path": "/slow"}, "handle": {"module": "reverse_proxy", "upstreams": ["`+slowUp.Listener.Addr().String()+`"]}},
		{"handle": `+static("hello")+`}]}`)
	// A slow request keeps the drain going.
	slowTr := h3Client(t, clientTLS)
	slow := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "https://"+ts.addr+"/slow", nil)
		resp, err := slowTr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		slow <- err
	}()
	time.Sleep(300 * time.Millisecond)
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		drained <- ts.Drain(ctx)
	}()
	time.Sleep(time.Second) // the drain has begun: past the hello wait and any grace

	conn, err := quic.DialAddr(context.Background(), ts.addr, withH3(clientTLS), &quic.Config{MaxIdleTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("dialling during the drain: %v", err)
	}
	defer conn.CloseWithError(0, "")
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	cc := (&http3.Transport{}).NewClientConn(conn)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+ts.addr+"/", nil)
	resp, err := cc.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a request on a connection opened during the drain hung: %v (the connection was never served)", err)
	}
	if err := <-slow; err != nil {
		t.Fatalf("the slow request in flight during the drain: %v", err)
	}
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	ts.drained = true
	<-ts.served
}

func withH3(c *tls.Config) *tls.Config {
	c = c.Clone()
	c.NextProtos = []string{http3.NextProtoH3}
	return c
}

// A connection opened just before a drain (the retry of a request that
// another draining connection refused, say) is served a while before it
// is told GOAWAY: quic-go's client retries a refused request only once,
// and a retry refused again fails.
func TestHTTP3AConnectionOpenedJustBeforeADrainServesItsRequestsBeforeGoaway(t *testing.T) {
	ts, clientTLS := startH3(t, `{"module": "http", "http3": true, "routes": [{"handle": `+static("hello")+`}]}`)
	conn, err := quic.DialAddr(context.Background(), ts.addr, withH3(clientTLS), &quic.Config{MaxIdleTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	cc := (&http3.Transport{}).NewClientConn(conn)
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		drained <- ts.Drain(ctx)
	}()
	// The drain has begun and waited for a successor (500ms, none here);
	// the client has read whatever the server sent.
	time.Sleep(700 * time.Millisecond)
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest(http.MethodGet, "https://"+ts.addr+"/", nil)
		resp, err := cc.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d on a connection opened just before the drain: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hello" {
			t.Fatalf("request %d: %q", i, b)
		}
	}
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	ts.drained = true
	<-ts.served
}
