package flipdtls

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd/modules/flipdtls/tlstest"
)

// acmeConfig is a wrapper config that gets its certificates from p, with
// challenges answered on p's loopback ports.
func acmeConfig(p *tlstest.Pebble, extra string, domains ...string) string {
	return fmt.Sprintf(`{"acme": {"directory": %q, "email": "ops@flipd.test", "domains": %s,
		"trusted_roots_pem_files": [%q], "listen_host": "127.0.0.1", "alt_http_port": %d, "alt_tls_alpn_port": %d%s}}`,
		p.DirectoryURL, jsonList(domains...), p.RootsFile, p.HTTPPort, p.TLSPort, extra)
}

// verified connects to addr as name, verifying the chain against p's
// root, and returns the leaf served.
func verified(t *testing.T, p *tlstest.Pebble, addr, name string) tls.ConnectionState {
	t.Helper()
	body, st, err := request(addr, &tls.Config{ServerName: name, RootCAs: poolOf(p.RootPEM())})
	if err != nil || !strings.HasPrefix(body, "hello") {
		t.Fatalf("HTTPS request for %s: %q, %v", name, body, err)
	}
	return st
}

func lockFiles(t *testing.T, storage string) []string {
	t.Helper()
	locks, _ := filepath.Glob(filepath.Join(storage, storageSubdir, "locks", "*"))
	return locks
}

func TestACMEOrdersOnlyWhatStorageLacks(t *testing.T) {
	p := tlstest.StartPebble(t, tlstest.PebbleOptions{})
	storage := t.TempDir()
	domains := []string{"a.flipd.test", "b.flipd.test"}
	config := acmeConfig(p, `, "profile": "default"`, domains...)

	serials := map[string]string{}
	for gen := 1; gen <= 11; gen++ {
		g := mustProvision(t, storage, config, nil)
		addr := g.serve(t)
		for _, d := range domains {
			serial := verified(t, p, addr, d).PeerCertificates[0].SerialNumber.String()
			if gen == 1 {
				serials[d] = serial
			} else if serials[d] != serial {
				t.Fatalf("generation %d serves a new certificate for %s: it did not load the stored one", gen, d)
			}
		}
		if err := g.cleanup(); err != nil {
			t.Fatal(err)
		}
		if locks := lockFiles(t, storage); len(locks) > 0 {
			t.Fatalf("generation %d left storage locks behind: %v", gen, locks)
		}
		if got := p.Orders(); got != len(domains) {
			t.Fatalf("after generation %d Pebble has %d orders; want %d, all from generation 1", gen, got, len(domains))
		}
	}
}

func TestACMETLSALPNChallenge(t *testing.T) {
	p := tlstest.StartPebble(t, tlstest.PebbleOptions{})
	g := mustProvision(t, t.TempDir(), acmeConfig(p, `, "profile": "default", "disable_http_challenge": true`, "alpn.flipd.test"), nil)
	verified(t, p, g.serve(t), "alpn.flipd.test")
	if !strings.Contains(g.logs.String(), "tls-alpn-01") {
		t.Fatalf("no tls-alpn-01 challenge in the log:\n%s", g.logs)
	}
}

func TestACMERenewsInProcess(t *testing.T) {
	p := tlstest.StartPebble(t, tlstest.PebbleOptions{ShortLived: 8 * time.Second})
	config := withTop(acmeConfig(p, `, "profile": "shortlived"`, "short.flipd.test"), `, "renewal": {"window_ratio": 0.5, "check_interval": "250ms"}`)
	g := mustProvision(t, t.TempDir(), config, nil)
	addr := g.serve(t)
	first := verified(t, p, addr, "short.flipd.test").PeerCertificates[0]
	deadline := time.Now().Add(30 * time.Second)
	for {
		leaf := verified(t, p, addr, "short.flipd.test").PeerCertificates[0]
		if leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
			if leaf.NotBefore.Before(first.NotBefore) {
				t.Fatalf("the new certificate starts %s, before the first (%s)", leaf.NotBefore, first.NotBefore)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the certificate (valid until %s) was not renewed; log:\n%s", first.NotAfter, g.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := p.Orders(); got != 2 {
		t.Fatalf("Pebble has %d orders, want 2: the first and the renewal", got)
	}
}

func TestACMEBadInputIsRefused(t *testing.T) {
	p := tlstest.StartPebble(t, tlstest.PebbleOptions{})
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}()
	notACME := httptest.NewTLSServer(http.NotFoundHandler())
	defer notACME.Close()
	withDirectory := func(dir string) string {
		return strings.Replace(acmeConfig(p, "", "a.flipd.test"), p.DirectoryURL, dir, 1)
	}

	for _, tc := range []struct {
		name, config string
		want         []string
	}{
		{"unreachable directory", withDirectory("https://" + closed + "/dir"), []string{"directory https://" + closed + "/dir is unreachable", "connection refused", "a.flipd.test"}},
		{"not an ACME directory", strings.Replace(withDirectory(notACME.URL+"/dir"), p.RootsFile, writeCert(t, notACME), 1), []string{"directory " + notACME.URL + "/dir answered 404"}},
		{"untrusted directory", strings.Replace(acmeConfig(p, "", "a.flipd.test"), `"trusted_roots_pem_files": [`+fmt.Sprintf("%q", p.RootsFile)+`], `, "", 1), []string{"directory " + p.DirectoryURL, "certificate"}},
		{"plain http directory", withDirectory("http://" + closed + "/dir"), []string{"directory", "not an https URL"}},
		{"loopback address", acmeConfig(p, "", "127.0.0.1"), []string{`domain "127.0.0.1" cannot be managed by ACME`}},
		{"private address", acmeConfig(p, "", "10.1.2.3"), []string{`domain "10.1.2.3" cannot be managed by ACME`}},
		{"localhost", acmeConfig(p, "", "localhost"), []string{`domain "localhost" cannot be managed by ACME`}},
		{"invalid name", acmeConfig(p, "", "bad_name.flipd.test"), []string{`domain "bad_name.flipd.test" cannot be managed by ACME`}},
		{"bare wildcard", acmeConfig(p, "", "*.test"), []string{`domain "*.test" cannot be managed by ACME`}},
		{"no domains", acmeConfig(p, ""), []string{"domains"}},
		{"roots file missing", strings.Replace(acmeConfig(p, "", "a.flipd.test"), p.RootsFile, "/nonexistent/roots.pem", 1), []string{"trusted_roots_pem_files /nonexistent/roots.pem"}},
		{"both challenges off", acmeConfig(p, `, "disable_http_challenge": true, "disable_tls_alpn_challenge": true`, "a.flipd.test"), []string{"challenge"}},
		{"same domain internal", withTop(acmeConfig(p, "", "a.flipd.test"), `, "internal": {"domains": ["a.flipd.test"]}`), []string{`"a.flipd.test" is already managed by acme`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := provision(t, t.TempDir(), tc.config, nil)
			wantErr(t, err, tc.want...)
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("refusing took %s", d)
			}
		})
	}
	if p.Orders() != 0 {
		t.Fatalf("refused configs ordered %d certificates", p.Orders())
	}
}

func TestACMEDownWithCertificatesInStorage(t *testing.T) {
	p := tlstest.StartPebble(t, tlstest.PebbleOptions{})
	storage := t.TempDir()
	config := acmeConfig(p, `, "profile": "default", "directory_timeout": "2s"`, "kept.flipd.test")
	g := mustProvision(t, storage, config, nil)
	serial := verified(t, p, g.serve(t), "kept.flipd.test").PeerCertificates[0].SerialNumber
	g.cleanup()

	p.Stop()
	g2 := mustProvision(t, storage, config, nil)
	if got := verified(t, p, g2.serve(t), "kept.flipd.test").PeerCertificates[0].SerialNumber; got.Cmp(serial) != 0 {
		t.Fatal("the stored certificate is not the one served")
	}
	if !strings.Contains(g2.logs.String(), "the ACME directory does not answer") {
		t.Fatalf("no warning that the CA is down:\n%s", g2.logs)
	}
	// Without a stored certificate, the same outage refuses the config.
	_, err := provision(t, t.TempDir(), config, nil)
	wantErr(t, err, "is unreachable", `storage has no valid certificate for "kept.flipd.test"`)
}

// withTop adds top-level fields to a wrapper config.
func withTop(config, extra string) string {
	return strings.TrimSuffix(config, "}") + extra + "}"
}

// writeCert writes srv's certificate to a PEM file and returns its path.
func writeCert(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "roots.pem")
	os.WriteFile(path, pemEncode(srv.Certificate().Raw), 0o644)
	return path
}
