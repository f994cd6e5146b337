//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/flipd/flipd/modules/flipdtls/tlstest"
)

// h3Site serves body, and /slow from upstream, over HTTP/1-2 and HTTP/3.
func h3Site(addr, upstream string, leaf tlstest.Leaf, body string) string {
	return fmt.Sprintf(`{"admin": {"disabled": true}, "upgrade": {"drain_timeout": "10s"}, "listeners": {
		"web": {"address": "tcp/%s", "module": "http", "http3": true, "wrappers": [%s],
			"routes": [
				{"match": {"path": "/slow"}, "handle": {"module": "reverse_proxy", "upstreams": [%q]}},
				{"handle": {"module": "static_response", "body": %q}}]}}}`,
		addr, filesWrapper(leaf), upstream, body)
}

func h3Get(tr *http3.Transport, url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

func TestHTTP3ConnectionsLiveOnInTheirGenerationAcrossAReload(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, dir, "site", tlstest.LeafOptions{Names: []string{"127.0.0.1"}})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		io.WriteString(w, "got "+string(b))
	}))
	defer upstream.Close()
	addr := freeAddr(t)
	upAddr := upstream.Listener.Addr().String()
	d := startFlipd(t, h3Site(addr, upAddr, leaf, "gen1"))
	clientTLS := &tls.Config{RootCAs: ca.Pool()}
	newTransport := func() *http3.Transport {
		tr := &http3.Transport{TLSClientConfig: clientTLS, QUICConfig: &quic.Config{MaxIdleTimeout: 5 * time.Second}}
		t.Cleanup(func() { tr.Close() })
		return tr
	}

	// Alt-Svc over TCP names the UDP port of the same address.
	resp, err := httpsClient(addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}, false).Get("https://127.0.0.1/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := strings.Cut(addr, ":")
	if got := resp.Header.Get("Alt-Svc"); !strings.HasPrefix(got, `h3=":`+port+`"`) {
		t.Fatalf("Alt-Svc = %q, want h3 on port %s", got, port)
	}

	old := newTransport()
	if body, err := h3Get(old, "https://"+addr+"/"); err != nil || body != "gen1" {
		t.Fatalf("HTTP/3 before the reload: %q, %v", body, err)
	}
	// A POST whose body is sent half before the reload, half after: the
	// second half reaches generation 1 only if generation 2, which reads
	// the socket by then, forwards it.
	pr, pw := io.Pipe()
	defer pw.Close()
	slow := make(chan string, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+"/slow", pr)
		resp, err := old.RoundTrip(req)
		if err != nil {
			slow <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		slow <- strings.TrimSpace(string(b)) + errSuffix(err)
	}()
	if _, err := pw.Write([]byte("before,")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the request is with generation 1's proxy

	oldPid := d.pid()
	d.reload(h3Site(addr, upAddr, leaf, "gen2"))
	if body, err := h3Get(newTransport(), "https://"+addr+"/"); err != nil || body != "gen2" {
		t.Fatalf("a new HTTP/3 connection after the reload: %q, %v; want gen2", body, err)
	}
	if _, err := pw.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if body := <-slow; body != "got before,after" {
		t.Fatalf("the request in flight across the reload got %q", body)
	}
	d.waitExit(oldPid)
	if body, err := h3Get(old, "https://"+addr+"/"); err != nil || body != "gen2" {
		t.Fatalf("the old client after generation 1 exited: %q, %v; want gen2 on a new connection", body, err)
	}
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " error: " + err.Error()
}
