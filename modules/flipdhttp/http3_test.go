//go:build unix

package flipdhttp

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/flipd/flipd/quicroute"
	"github.com/flipd/flipd/upgrade/upgradetest"
)

// startH3 serves raw over TLS and, through a router on the same port's
// UDP socket, over HTTP/3, as the runtime does for "http3": true.
func startH3(t *testing.T, raw string) (*testServer, *tls.Config) {
	t.Helper()
	cert, pool := selfSigned(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	ts := start(t, raw, func(ln net.Listener) net.Listener { return tls.NewListener(ln, serverTLS) })
	upg, err := upgradetest.New() // generation 1; upgrades: see quicroute's tests and cmd/flipd's
	if err != nil {
		t.Fatal(err)
	}
	r, err := quicroute.New(upg, "udp", ts.addr, quicroute.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.ServeQUIC(r, serverTLS); err != nil {
		t.Fatal(err)
	}
	return ts, &tls.Config{RootCAs: pool}
}

func h3Client(t *testing.T, tlsConf *tls.Config) *http3.Transport {
	tr := &http3.Transport{TLSClientConfig: tlsConf, QUICConfig: &quic.Config{MaxIdleTimeout: 5 * time.Second}}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestHTTP3ServesTheSameRoutesOnTheSamePortAndTCPAdvertisesIt(t *testing.T) {
	ts, clientTLS := startH3(t, `{"module": "http", "http3": true, "routes": [{"handle": `+static("hello")+`}]}`)
	if !ts.WantsQUIC() {
		t.Fatal("WantsQUIC is false with \"http3\": true")
	}

	tcp := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}, Timeout: testTimeout}
	resp, err := tcp.Get("https://" + ts.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	_, port, _ := net.SplitHostPort(ts.addr)
	want := `h3=":` + port + `"; ma=2592000`
	if got := resp.Header.Get("Alt-Svc"); got != want {
		t.Fatalf("Alt-Svc over TCP = %q, want %q", got, want)
	}

	h3 := &http.Client{Transport: h3Client(t, clientTLS), Timeout: testTimeout}
	resp, err = h3.Get("https://" + ts.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 3 || string(body) != "hello" {
		t.Fatalf("over HTTP/3: %s %q, want HTTP/3 \"hello\"", resp.Proto, body)
	}
	if resp.Header.Get("Alt-Svc") != "" {
		t.Fatal("an HTTP/3 response advertises HTTP/3")
	}
	if n := ts.OpenConns(); n < 1 {
		t.Fatalf("OpenConns = %d with an HTTP/3 connection open", n)
	}
}

func TestHTTP3DrainSendsGoawayLetsStreamsFinishAndClosesSilentConnections(t *testing.T) {
	slowUp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
		io.WriteString(w, "slow")
	}))
	defer slowUp.Close()
	ts, clientTLS := startH3(t, `{"module": "http", "http3": true, "routes": [
		{"match": {"path": "/slow"}, "handle": {"module": "reverse_proxy", "upstreams": ["`+slowUp.Listener.Addr().String()+`"]}},
		{"handle": `+static("hello")+`}]}`)
	// A client that keeps its connection open long after the GOAWAY:
	// the drain closes it once silent instead of waiting for it.
	tr := &http3.Transport{TLSClientConfig: clientTLS, QUICConfig: &quic.Config{MaxIdleTimeout: time.Minute}}
	defer tr.Close()
	h3 := &http.Client{Transport: tr, Timeout: testTimeout}
	if _, err := h3.Get("https://" + ts.addr + "/"); err != nil {
		t.Fatal(err)
	}
	slow := make(chan string, 1)
	go func() {
		resp, err := h3.Get("https://" + ts.addr + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	time.Sleep(200 * time.Millisecond)
	drained := make(chan error, 1)
	go func() {
		// Well under the client's idle timeout: a drain that waits for the
		// client to close fails.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		drained <- ts.Drain(ctx)
	}()
	if got := <-slow; got != "slow" {
		t.Fatalf("the request in flight during the drain got %q", got)
	}
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	ts.drained = true
	<-ts.served
	if n := ts.OpenConns(); n != 0 {
		t.Fatalf("OpenConns = %d after the drain", n)
	}
}
