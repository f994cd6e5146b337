package flipdtls

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd/modules/flipdtls/tlstest"
)

// filesConfig is a wrapper config serving the given leaves.
func filesConfig(extra string, leaves ...tlstest.Leaf) string {
	var certs []string
	for _, l := range leaves {
		certs = append(certs, fmt.Sprintf(`{"cert_file": %q, "key_file": %q}`, l.CertFile, l.KeyFile))
	}
	return fmt.Sprintf(`{"certificates": [%s]%s}`, strings.Join(certs, ", "), extra)
}

func TestCertificatesBySNIWithDefault(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	a := ca.Issue(t, dir, "a", tlstest.LeafOptions{Names: []string{"a.test"}})
	b := ca.Issue(t, dir, "b", tlstest.LeafOptions{Names: []string{"b.test", "*.b.test"}})

	for _, tc := range []struct {
		name, extra, sni string
		want             tlstest.Leaf
	}{
		{"exact name", "", "a.test", a},
		{"second certificate", "", "b.test", b},
		{"wildcard", "", "x.b.test", b},
		{"no SNI: the first certificate", "", "", a},
		{"no SNI with default_sni", `, "default_sni": "b.test"`, "", b},
		{"unknown name with fallback_sni", `, "fallback_sni": "a.test"`, "other.test", a},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := mustProvision(t, t.TempDir(), filesConfig(tc.extra, a, b), nil).serve(t)
			st, err := handshake(addr, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := st.PeerCertificates[0].SerialNumber; got.Cmp(tc.want.Cert.SerialNumber) != 0 {
				t.Fatalf("served %v, want the certificate for %v", st.PeerCertificates[0].DNSNames, tc.want.Cert.DNSNames)
			}
		})
	}

	t.Run("unknown name without fallback fails the handshake", func(t *testing.T) {
		addr := mustProvision(t, t.TempDir(), filesConfig("", a, b), nil).serve(t)
		if _, err := handshake(addr, &tls.Config{ServerName: "other.test", InsecureSkipVerify: true}); err == nil {
			t.Fatal("handshake for a name without a certificate succeeded")
		}
	})
}

func TestVersionsAndALPN(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, dir, "a", tlstest.LeafOptions{Names: []string{"a.test"}})
	client := func(protos ...string) *tls.Config {
		return &tls.Config{ServerName: "a.test", RootCAs: ca.Pool(), NextProtos: protos}
	}

	addr := mustProvision(t, t.TempDir(), filesConfig("", leaf), nil).serve(t)
	body, st, err := request(addr, client("h2", "http/1.1"))
	if err != nil || body != "hello HTTP/2.0" || st.NegotiatedProtocol != "h2" {
		t.Fatalf("default ALPN: %q, %q, %v; want HTTP/2", body, st.NegotiatedProtocol, err)
	}
	if body, _, err := request(addr, client("http/1.1")); err != nil || body != "hello HTTP/1.1" {
		t.Fatalf("an HTTP/1.1 client: %q, %v", body, err)
	}
	if st.Version != tls.VersionTLS13 {
		t.Fatalf("negotiated %x, want TLS 1.3", st.Version)
	}
	old := client()
	old.MaxVersion = tls.VersionTLS11
	if _, err := handshake(addr, old); err == nil {
		t.Fatal("a TLS 1.1 client got in: the minimum is 1.2")
	}
	tls12 := client()
	tls12.MaxVersion = tls.VersionTLS12
	if _, err := handshake(addr, tls12); err != nil {
		t.Fatalf("a TLS 1.2 client: %v", err)
	}

	addr13 := mustProvision(t, t.TempDir(), filesConfig(`, "min_version": "1.3", "alpn": ["http/1.1"]`, leaf), nil).serve(t)
	if _, err := handshake(addr13, tls12); err == nil {
		t.Fatal(`a TLS 1.2 client got in with "min_version": "1.3"`)
	}
	if _, st, err := request(addr13, client("h2", "http/1.1")); err != nil || st.NegotiatedProtocol != "http/1.1" {
		t.Fatalf(`"alpn": ["http/1.1"] negotiated %q, %v`, st.NegotiatedProtocol, err)
	}

	raw := mustProvision(t, t.TempDir(), filesConfig(`, "alpn": []`, leaf), nil)
	if got := raw.w.tlsCfg.NextProtos; len(got) != 0 {
		t.Fatalf(`"alpn": [] offers %q`, got)
	}
}

func TestBadCertificatesAreRefused(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	good := ca.Issue(t, dir, "good", tlstest.LeafOptions{Names: []string{"good.test"}})
	other := ca.Issue(t, dir, "other", tlstest.LeafOptions{Names: []string{"other.test"}})
	expired := ca.Issue(t, dir, "expired", tlstest.LeafOptions{Names: []string{"expired.test"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	future := ca.Issue(t, dir, "future", tlstest.LeafOptions{Names: []string{"future.test"},
		NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(48 * time.Hour)})
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not PEM at all\n"), 0o644)
	unreadable := filepath.Join(dir, "a-directory.pem")
	os.Mkdir(unreadable, 0o755)
	missing := filepath.Join(dir, "missing.pem")
	pair := func(cert, key string) tlstest.Leaf { return tlstest.Leaf{CertFile: cert, KeyFile: key} }

	for _, tc := range []struct {
		name   string
		config string
		want   []string
	}{
		{"missing cert file", filesConfig("", pair(missing, good.KeyFile)), []string{"cert_file " + missing, "no such file"}},
		{"missing key file", filesConfig("", pair(good.CertFile, missing)), []string{"key_file " + missing, "no such file"}},
		{"unreadable cert file", filesConfig("", pair(unreadable, good.KeyFile)), []string{"cert_file " + unreadable}},
		{"key of another certificate", filesConfig("", pair(good.CertFile, other.KeyFile)), []string{"key_file " + other.KeyFile + " does not match", good.CertFile}},
		{"expired certificate", filesConfig("", expired), []string{"cert_file " + expired.CertFile, "expired.test", "expired at"}},
		{"certificate not valid yet", filesConfig("", future), []string{"cert_file " + future.CertFile, "not valid before"}},
		{"cert file without PEM", filesConfig("", pair(garbage, good.KeyFile)), []string{"cert_file " + garbage}},
		{"key file without PEM", filesConfig("", pair(good.CertFile, garbage)), []string{"key_file " + garbage}},
		{"second certificate bad", filesConfig("", good, pair(missing, good.KeyFile)), []string{"certificates[1]", missing}},
		{"no certificates", `{}`, []string{"no certificates"}},
		{"cert_file without key_file", `{"certificates": [{"cert_file": "x.pem"}]}`, []string{"certificates[0]", "key_file"}},
		{"TLS 1.1", filesConfig(`, "min_version": "1.1"`, good), []string{"min_version", "1.1"}},
		{"default_sni without certificate", filesConfig(`, "default_sni": "nope.test"`, good), []string{"default_sni", "nope.test"}},
		{"client auth mode", filesConfig(`, "client_auth": {"mode": "sometimes"}`, good), []string{"client_auth", "sometimes"}},
		{"client auth without CAs", filesConfig(`, "client_auth": {"mode": "verify_if_given"}`, good), []string{"client_auth", "trusted_ca_files"}},
		{"client auth CA file missing", filesConfig(fmt.Sprintf(`, "client_auth": {"trusted_ca_files": [%q]}`, missing), good), []string{"client_auth.trusted_ca_files " + missing}},
		{"internal domain", `{"internal": {"domains": ["bad name"]}}`, []string{"internal", `"bad name"`}},
		{"ticket rotation too fast", filesConfig(`, "session_tickets": {"rotate_every": "1ms"}`, good), []string{"rotate_every"}},
		{"unknown field", filesConfig(`, "min_versoin": "1.3"`, good), []string{"min_versoin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := provision(t, t.TempDir(), tc.config, nil)
			wantErr(t, err, tc.want...)
		})
	}
	if os.Geteuid() != 0 {
		t.Run("unreadable key file", func(t *testing.T) {
			locked := filepath.Join(dir, "locked.key")
			b, _ := os.ReadFile(good.KeyFile)
			os.WriteFile(locked, b, 0o000)
			_, err := provision(t, t.TempDir(), filesConfig("", pair(good.CertFile, locked)), nil)
			wantErr(t, err, "key_file "+locked, "permission denied")
		})
	}
}

func TestClientAuthModes(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	clients := tlstest.NewCA(t, dir, "clients")
	strangers := tlstest.NewCA(t, dir, "strangers")
	leaf := ca.Issue(t, dir, "server", tlstest.LeafOptions{Names: []string{"a.test"}})
	good := clients.Issue(t, dir, "alice", tlstest.LeafOptions{Client: true})
	bad := strangers.Issue(t, dir, "mallory", tlstest.LeafOptions{Client: true})

	type result struct{ none, good, stranger bool } // whether each client gets in
	for _, tc := range []struct {
		mode string
		want result
	}{
		{"request", result{true, true, true}},
		{"require", result{false, true, true}},
		{"verify_if_given", result{true, true, false}},
		{"require_and_verify", result{false, true, false}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			extra := fmt.Sprintf(`, "client_auth": {"mode": %q, "trusted_ca_files": [%q]}`, tc.mode, clients.File)
			addr := mustProvision(t, t.TempDir(), filesConfig(extra, leaf), nil).serve(t)
			try := func(cert *tls.Certificate) bool {
				cfg := &tls.Config{ServerName: "a.test", RootCAs: ca.Pool()}
				if cert != nil {
					// Sent whatever CAs the server names as acceptable.
					cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
				}
				// A request, since TLS 1.3 reports a refused client
				// certificate after the handshake.
				_, _, err := request(addr, cfg)
				return err == nil
			}
			got := result{try(nil), try(&good.TLS), try(&bad.TLS)}
			if got != tc.want {
				t.Fatalf("without, with a trusted, with a stranger's certificate: got in %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestListenerYieldsTLSConns(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, dir, "a", tlstest.LeafOptions{Names: []string{"a.test"}})
	g := mustProvision(t, t.TempDir(), filesConfig("", leaf), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln, err := g.w.WrapListener(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer tln.Close()
	go handshake(ln.Addr().String(), &tls.Config{ServerName: "a.test", RootCAs: ca.Pool()})
	c, err := tln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*tls.Conn); !ok {
		t.Fatalf("Accept returned a %T, want *tls.Conn (modules/flipdhttp negotiates h2 on it)", c)
	}
}
