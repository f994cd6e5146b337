package flipdtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/flipdtest"
)

// logBuffer collects a test's logs.
type logBuffer = flipdtest.Buffer

// generation is one provisioned wrapper, as a generation of flipd holds
// it, and what it logs.
type generation struct {
	w       *Wrapper
	cleanup func() error
	logs    *logBuffer
}

// provision loads raw (a wrapper's JSON, without "module") as the
// runtime would, with storage in dir. ring, if set, replaces the
// process's session ticket keys.
func provision(t *testing.T, dir string, raw string, ring *ticketRing) (*generation, error) {
	t.Helper()
	logs := new(logBuffer)
	logger := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug, JSONFormat: true})
	ctx, cleanup := flipd.NewContext(context.Background(), logger, dir, 1)
	w := new(Wrapper)
	if err := flipd.DecodeStrict(json.RawMessage(raw), w); err != nil {
		cleanup()
		return nil, err
	}
	w.ticketRing = ring
	if ring == nil {
		w.ticketRing = new(ticketRing)
	}
	err := w.Provision(ctx)
	if err == nil {
		err = w.Validate()
	}
	if err != nil {
		w.Cleanup()
		cleanup()
		return nil, err
	}
	return &generation{w: w, logs: logs, cleanup: func() error {
		err := w.Cleanup()
		cleanup()
		return err
	}}, nil
}

func mustProvision(t *testing.T, dir, raw string, ring *ticketRing) *generation {
	t.Helper()
	g, err := provision(t, dir, raw, ring)
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	t.Cleanup(func() { g.cleanup() })
	return g
}

// serve wraps a loopback listener and serves HTTP on it, answering
// "hello" and the negotiated protocol. It returns the address.
func (g *generation) serve(t *testing.T) string {
	t.Helper()
	return g.serveOn(t, "127.0.0.1:0")
}

// serveOn is serve on a given address: as the runtime does, it wraps the
// socket, starts the wrapper, and serves; when the test ends, it stops
// the wrapper.
func (g *generation) serveOn(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tln, err := g.w.WrapListener(ln)
	if err != nil {
		ln.Close()
		t.Fatalf("WrapListener: %v", err)
	}
	if err := g.w.Start(context.Background()); err != nil {
		ln.Close()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { g.w.Stop(context.Background()) })
	serveHTTP(t, tln)
	return ln.Addr().String()
}

// serveHTTP answers "hello" and the protocol on ln until the test ends.
func serveHTTP(t *testing.T, ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.Proto)
	}), ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// handshake connects to addr with cfg and returns the connection state.
func handshake(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.ConnectionState(), nil
}

// request makes one HTTPS request over a new connection with cfg and
// returns the body and the connection state.
func request(addr string, cfg *tls.Config) (string, tls.ConnectionState, error) {
	var state tls.ConnectionState
	tr := &http.Transport{
		TLSClientConfig:   cfg.Clone(), // net/http adds "h2" to it
		DisableKeepAlives: true,
		ForceAttemptHTTP2: true,
		DialTLSContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			d := &tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				state = c.(*tls.Conn).ConnectionState()
			}
			return c, err
		},
	}
	defer tr.CloseIdleConnections()
	host := cfg.ServerName
	if host == "" {
		host = addr
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + host + "/")
	if err != nil {
		return "", state, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), state, err
}

func poolOf(pems ...[]byte) *x509.CertPool {
	p := x509.NewCertPool()
	for _, b := range pems {
		p.AppendCertsFromPEM(b)
	}
	return p
}

func pemEncode(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// jsonList spells strs as a JSON array.
func jsonList(strs ...string) string {
	b, _ := json.Marshal(strs)
	return string(b)
}

func wantErr(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one saying %q", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}
}
