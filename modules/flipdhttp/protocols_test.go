package flipdhttp

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/flipd/flipd/flipdtest"
)

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) { return flipdtest.LoopbackCert(t) }

// TestTLS serves through a TLS listener, as a "tls" listener wrapper
// would hand it over, and checks that ALPN picks HTTP/2 when the client
// offers it and HTTP/1.1 when it does not.
func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	ts := start(t, `{"module": "http", "routes": [{"handle": `+static("hello")+`}]}`, func(ln net.Listener) net.Listener {
		return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
	})

	tests := []struct {
		name      string
		protocols func(*http.Protocols)
		wantMajor int
	}{
		{"h2", func(p *http.Protocols) { p.SetHTTP2(true); p.SetHTTP1(true) }, 2},
		{"http/1.1", func(p *http.Protocols) { p.SetHTTP1(true) }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Protocols: new(http.Protocols)}
			tt.protocols(tr.Protocols)
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: testTimeout}).Get("https://" + ts.addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.ProtoMajor != tt.wantMajor || body != "hello" {
				t.Errorf("got %s %q, want HTTP/%d \"hello\"", resp.Proto, body, tt.wantMajor)
			}
		})
	}
}

// TestH2C checks HTTP/2 over plain TCP with prior knowledge: served when
// "h2c" is set, refused otherwise, while HTTP/1.1 works either way.
func TestH2C(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		ts := start(t, fmt.Sprintf(`{"module": "http", "h2c": %v, "routes": [{"handle": %s}]}`, enabled, static("hello")), nil)

		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		resp, err := (&http.Client{Transport: tr, Timeout: testTimeout}).Get(ts.url("/"))
		switch {
		case enabled && err != nil:
			t.Errorf("h2c enabled: %v", err)
		case enabled:
			if body := readAll(t, resp); resp.ProtoMajor != 2 || body != "hello" {
				t.Errorf("h2c enabled: got %s %q, want HTTP/2 \"hello\"", resp.Proto, body)
			}
		case err == nil:
			readAll(t, resp)
			if resp.ProtoMajor == 2 {
				t.Errorf("h2c disabled: served HTTP/2 over plain TCP")
			}
		}
		tr.CloseIdleConnections()

		if got := do(t, newClient(t), "GET", ts.url("/"), ""); got.status != 200 || got.body != "hello" {
			t.Errorf("h2c %v: HTTP/1.1 = %d %q", enabled, got.status, got.body)
		}
	}
}
