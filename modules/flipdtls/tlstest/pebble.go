// Package tlstest helps test TLS setups without leaving loopback: an
// in-process Pebble (Let's Encrypt's test ACME server) that validates
// challenges for real against 127.0.0.1, and self-signed certificate
// files.
package tlstest

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// PebbleOptions tune a Pebble.
type PebbleOptions struct {
	// AlwaysValid skips challenge validation (PEBBLE_VA_ALWAYS_VALID).
	// Otherwise Pebble validates http-01 and tls-alpn-01 challenges by
	// connecting to 127.0.0.1 on HTTPPort and TLSPort: every name
	// resolves to 127.0.0.1 through Pebble's own DNS server.
	AlwaysValid bool
	// ShortLived, if set, adds a "shortlived" profile whose certificates
	// are valid that long. (Pebble picks a profile at random for orders
	// that name none, so it is only offered when asked for.)
	ShortLived time.Duration
	// Log receives Pebble's log. Default: discarded.
	Log io.Writer
}

// Pebble is an ACME server running in the test process.
type Pebble struct {
	// DirectoryURL is the ACME directory: "https://127.0.0.1:port/dir".
	DirectoryURL string
	// HTTPPort and TLSPort are where challenges are validated, on
	// 127.0.0.1: the ACME client's alt_http_port and alt_tls_alpn_port.
	HTTPPort, TLSPort int
	// RootsFile holds the PEM certificate that the directory's HTTPS
	// server presents: the ACME client's trusted root.
	RootsFile string

	ca     *ca.CAImpl
	srv    *httptest.Server
	orders atomic.Int64
}

// pebbleEnv is read by Pebble's constructors; it is process-wide, so
// starting Pebbles is serialized.
var pebbleEnv sync.Mutex

// StartPebble starts a Pebble for the test; it stops with the test.
func StartPebble(t testing.TB, opts PebbleOptions) *Pebble {
	t.Helper()
	out := opts.Log
	if out == nil {
		out = io.Discard
	}
	logger := log.New(out, "pebble ", log.LstdFlags)

	p := &Pebble{HTTPPort: freePort(t), TLSPort: freePort(t)}
	resolver := startResolver(t)

	pebbleEnv.Lock()
	env := map[string]string{
		"PEBBLE_VA_NOSLEEP":      "1",
		"PEBBLE_WFE_NONCEREJECT": "0",
		"PEBBLE_VA_ALWAYS_VALID": "0",
	}
	if opts.AlwaysValid {
		env["PEBBLE_VA_ALWAYS_VALID"] = "1"
	}
	restore := setenv(env)
	store := db.NewMemoryStore()
	profiles := map[string]ca.Profile{"default": {Description: "90 days", ValidityPeriod: 90 * 24 * 3600}}
	if opts.ShortLived > 0 {
		profiles["shortlived"] = ca.Profile{Description: "short-lived", ValidityPeriod: uint64(opts.ShortLived / time.Second)}
	}
	p.ca = ca.New(logger, store, "", "ecdsa", 0, 1, profiles)
	v := va.New(logger, p.HTTPPort, p.TLSPort, false, resolver, store)
	w := wfe.New(logger, store, v, p.ca, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	restore()
	pebbleEnv.Unlock()

	handler := w.Handler()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			p.orders.Add(1)
		}
		handler.ServeHTTP(rw, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv = srv
	t.Cleanup(srv.Close)
	p.DirectoryURL = srv.URL + wfe.DirectoryPath
	p.RootsFile = filepath.Join(t.TempDir(), "pebble-roots.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(p.RootsFile, block, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Orders counts the new-order requests Pebble has received.
func (p *Pebble) Orders() int { return int(p.orders.Load()) }

// Stop stops answering, as a CA that is down: its port is closed.
func (p *Pebble) Stop() {
	p.srv.CloseClientConnections()
	p.srv.Close()
}

// RootPEM is the root that Pebble's certificates chain to, for clients.
func (p *Pebble) RootPEM() []byte { return p.ca.GetRootCert(0).PEM() }

func setenv(env map[string]string) (restore func()) {
	old := map[string]*string{}
	for k, v := range env {
		if prev, ok := os.LookupEnv(k); ok {
			old[k] = &prev
		} else {
			old[k] = nil
		}
		os.Setenv(k, v)
	}
	return func() {
		for k, v := range old {
			if v == nil {
				os.Unsetenv(k)
			} else {
				os.Setenv(k, *v)
			}
		}
	}
}

// startResolver serves DNS over TCP on loopback: every name has the
// address 127.0.0.1, and no other record.
func startResolver(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Net: "tcp", Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.ShutdownContext(ctx)
	})
	return ln.Addr().String()
}

// freePort returns a loopback port nobody listens on (yet).
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// String describes p for test logs.
func (p *Pebble) String() string {
	return fmt.Sprintf("pebble at %s (challenges on 127.0.0.1:%d and :%d)", p.DirectoryURL, p.HTTPPort, p.TLSPort)
}
