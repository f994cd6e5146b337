package drain

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd/internal/poll"
	"github.com/flipd/flipd/internal/testca"
)

// With Options.OwnTimeouts the drain, not net/http, enforces the header
// and idle timeouts of a server on a plaintext listener (timeouts.go).
// These tests check that it takes them over only then, that a keep-alive
// request then sets no far deadline, and that each timeout still cuts
// what it should, never before its time.

// unwrapListener hides a listener behind an Unwrap method, as flipd's
// engine passes listeners to modules.
type unwrapListener struct{ inner net.Listener }

func (l unwrapListener) Accept() (net.Conn, error) { return l.inner.Accept() }
func (l unwrapListener) Close() error              { return l.inner.Close() }
func (l unwrapListener) Addr() net.Addr            { return l.inner.Addr() }
func (l unwrapListener) Unwrap() net.Listener      { return l.inner }

func loopbackCert(t *testing.T) tls.Certificate {
	t.Helper()
	_, leaf, err := testca.Loopback(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return leaf.TLS
}

// ownServer serves hello through a drain with OwnTimeouts and a quick
// deadline keeper on ln (wrapped by wrap, if set), and returns the
// http.Server and the address.
func ownServer(t *testing.T, header, idle time.Duration, wrap func(net.Listener) net.Listener) (*http.Server, *Server, string) {
	t.Helper()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello")
		}),
		ReadHeaderTimeout: header,
		IdleTimeout:       idle,
	}
	d := New(srv, Options{OwnTimeouts: true})
	quickKeeper(d)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := net.Listener(unwrapListener{ln})
	if wrap != nil {
		served = wrap(ln)
	}
	go d.Serve(served)
	t.Cleanup(func() { srv.Close() })
	awaitDecided(t, d)
	return srv, d, ln.Addr().String()
}

// awaitDecided waits until d's first Serve has decided who enforces the
// timeouts.
func awaitDecided(t *testing.T, d *Server) {
	t.Helper()
	poll.Until(t, 10*time.Second, "the first Serve", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.ownDecided
	})
}

func TestOwnTimeoutsTakeTheTimeoutsFromNetHTTPOnAPlaintextListener(t *testing.T) {
	srv, d, _ := ownServer(t, 10*time.Second, 2*time.Minute, nil)
	if !d.own || srv.ReadHeaderTimeout != 0 || srv.IdleTimeout != 0 {
		t.Fatalf("own %v, http.Server's ReadHeaderTimeout %s and IdleTimeout %s: want the drain to enforce them, net/http none",
			d.own, srv.ReadHeaderTimeout, srv.IdleTimeout)
	}
	if d.headerTimeout != 10*time.Second || d.idleTimeout != 2*time.Minute {
		t.Fatalf("the drain enforces %s and %s, want 10s and 2m", d.headerTimeout, d.idleTimeout)
	}
}

func TestOwnTimeoutsLeaveNetHTTPTheTimeoutsItMustKeep(t *testing.T) {
	cert := loopbackCert(t)
	tlsWrap := func(ln net.Listener) net.Listener {
		return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	}
	for _, tc := range []struct {
		name         string
		header, idle time.Duration
		wrap         func(net.Listener) net.Listener
		tweak        func(*http.Server)
	}{
		{"a TLS listener", 10 * time.Second, 2 * time.Minute, tlsWrap, nil},
		{"a ReadTimeout", 10 * time.Second, 2 * time.Minute, nil, func(s *http.Server) { s.ReadTimeout = time.Minute }},
		{"a timeout too short for the keeper's clock", 10 * time.Second, 30 * time.Millisecond, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &http.Server{ReadHeaderTimeout: tc.header, IdleTimeout: tc.idle}
			if tc.tweak != nil {
				tc.tweak(srv)
			}
			d := New(srv, Options{OwnTimeouts: true})
			quickKeeper(d)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := net.Listener(ln)
			if tc.wrap != nil {
				served = tc.wrap(ln)
			}
			go d.Serve(served)
			t.Cleanup(func() { srv.Close() })
			awaitDecided(t, d)
			if d.own || srv.ReadHeaderTimeout != tc.header || srv.IdleTimeout != tc.idle {
				t.Fatalf("own %v, http.Server's timeouts %s and %s: want net/http to keep %s and %s",
					d.own, srv.ReadHeaderTimeout, srv.IdleTimeout, tc.header, tc.idle)
			}
		})
	}
}

func TestOwnTimeoutsRefuseATLSListenerAfterAPlaintextOne(t *testing.T) {
	_, d, _ := ownServer(t, 10*time.Second, 2*time.Minute, nil)
	cert := loopbackCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = d.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}))
	if err == nil || !strings.Contains(err.Error(), "OwnTimeouts") {
		t.Fatalf("Serve of a TLS listener after a plaintext one: %v, want an error naming OwnTimeouts", err)
	}
}

func TestAKeepAliveRequestSetsNoFarDeadlineWhenTheDrainOwnsTheTimeouts(t *testing.T) {
	const requests = 20
	n, d, srv := farDeadlinesOfKeepAliveRequests(t, requests, Options{OwnTimeouts: true})
	if !d.own || srv.IdleTimeout != 0 {
		t.Fatal("the drain does not enforce the timeouts")
	}
	if n != 0 {
		t.Errorf("%d future read deadlines set on the connection for %d keep-alive requests, want none", n, requests-1)
	}
}

// expectCut reads from r until the server ends the connection, and
// requires that to come no sooner than after from. It returns how long
// after from it came.
func expectCut(t *testing.T, r *bufio.Reader, from time.Time, after time.Duration, what string) time.Duration {
	t.Helper()
	_, err := r.ReadByte()
	waited := time.Since(from)
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: read %v after %s, want the server to close the connection", what, err, waited)
	}
	if waited < after {
		t.Fatalf("%s: closed after %s, before its timeout (%s)", what, waited, after)
	}
	return waited
}

func TestTheDrainsIdleTimeoutClosesAnIdleConnectionNotBefore(t *testing.T) {
	const idle = 300 * time.Millisecond
	_, _, addr := ownServer(t, 10*time.Second, idle, nil)
	c, r := dialKeepAlive(t, addr)
	getHello(t, c, r, 0)
	time.Sleep(idle / 2) // an idle wait shorter than the timeout ends in a request
	getHello(t, c, r, 1)
	expectCut(t, r, time.Now(), idle, "idle connection")
}

func TestTheDrainsHeaderTimeoutCutsASlowHeaderNotBefore(t *testing.T) {
	const header = 300 * time.Millisecond
	_, _, addr := ownServer(t, header, 10*time.Second, nil)

	t.Run("after an idle wait", func(t *testing.T) {
		c, r := dialKeepAlive(t, addr)
		getHello(t, c, r, 0)
		time.Sleep(2 * header) // idle longer than the header's timeout: not counted
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: te")); err != nil {
			t.Fatal(err)
		}
		expectCut(t, r, time.Now(), header, "a header begun and not finished")
	})
	t.Run("on a new connection", func(t *testing.T) {
		start := time.Now()
		_, r := dialKeepAlive(t, addr)
		expectCut(t, r, start, header, "a new connection that sends nothing")
	})
	t.Run("a header sent in time", func(t *testing.T) {
		c, r := dialKeepAlive(t, addr)
		getHello(t, c, r, 0)
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(header / 2)
		if _, err := c.Write([]byte("Host: test\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("a header finished within its timeout: %v", err)
		}
		resp.Body.Close()
	})
}

func TestAnAdoptedConnectionWaitsTheDrainsIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	srv, d, _ := ownServer(t, 10*time.Second, idle, nil)
	if srv.IdleTimeout != 0 {
		t.Fatal("net/http kept IdleTimeout")
	}
	c, peer := tcpPair(t)
	defer peer.Close()
	adopted := time.Now()
	if err := d.Adopt(c); err != nil {
		t.Fatal(err)
	}
	peer.SetDeadline(time.Now().Add(10 * time.Second))
	expectCut(t, bufio.NewReader(peer), adopted, idle, "an adopted connection left idle")
}
