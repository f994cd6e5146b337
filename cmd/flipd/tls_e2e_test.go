//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flipd/flipd/modules/flipdtls/tlstest"
)

// tlsSite serves body over TLS on addr, wrapped by wrapper (a "tls"
// wrapper's JSON), with the admin API on admin unless it is "".
func tlsSite(admin, addr, wrapper, body string) string {
	adminPart := `"admin": {"disabled": true}`
	if admin != "" {
		adminPart = fmt.Sprintf(`"admin": {"listen": %q}`, admin)
	}
	return fmt.Sprintf(`{%s, "upgrade": {"drain_timeout": "10s"}, "listeners": {
		"web": {"address": "tcp/%s", "module": "http", "wrappers": [%s],
			"routes": [{"handle": {"module": "static_response", "body": %q}}]}}}`, adminPart, addr, wrapper, body)
}

func filesWrapper(l tlstest.Leaf) string {
	return fmt.Sprintf(`{"module": "tls", "certificates": [{"cert_file": %q, "key_file": %q}]}`, l.CertFile, l.KeyFile)
}

// httpsClient makes requests to addr as serverName. Without keepAlive
// every request is a new TLS connection.
func httpsClient(addr string, cfg *tls.Config, keepAlive bool) *http.Client {
	dialer := &tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     cfg.Clone(),
		DisableKeepAlives:   !keepAlive,
		MaxIdleConnsPerHost: 1,
		ForceAttemptHTTP2:   true,
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", addr)
		},
	}}
}

// httpsGet makes one request over a new TLS connection and returns the
// body and the connection's state.
func httpsGet(addr string, cfg *tls.Config) (string, tls.ConnectionState, error) {
	var state tls.ConnectionState
	c := httpsClient(addr, cfg, false)
	tr := c.Transport.(*http.Transport)
	dial := tr.DialTLSContext
	tr.DialTLSContext = func(ctx context.Context, n, a string) (net.Conn, error) {
		conn, err := dial(ctx, n, a)
		if err == nil {
			state = conn.(*tls.Conn).ConnectionState()
		}
		return conn, err
	}
	resp, err := c.Get("https://" + cfg.ServerName + "/")
	if err != nil {
		return "", state, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), state, err
}

// waitTLSAnswer polls addr until it answers want over a new connection;
// it returns that connection's state.
func waitTLSAnswer(t *testing.T, addr string, cfg *tls.Config, want string) tls.ConnectionState {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, st, err := httpsGet(addr, cfg)
		if err == nil && got == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answers %q (%v), want %q", addr, got, err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// load posts config to the admin API and returns the new pid.
func load(t *testing.T, admin, config string) int {
	t.Helper()
	a := api(t, "POST", "http://"+admin+"/load", config)
	if a.status != 200 {
		t.Fatalf("POST /load: %d %s", a.status, a.raw)
	}
	return int(a.body["pid"].(float64))
}

func TestTLSUpgradesUnderLoadWithRotatingCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	issue := func() tlstest.Leaf { // the same files, new contents
		return ca.Issue(t, dir, "site", tlstest.LeafOptions{Names: []string{"site.test"}})
	}
	leaf := issue()
	admin, addr := freeAddr(t), freeAddr(t)
	d := startFlipd(t, tlsSite(admin, addr, filesWrapper(leaf), "gen0"))
	cfg := &tls.Config{ServerName: "site.test", RootCAs: ca.Pool()}

	var ok, failed, handshakes atomic.Int64
	var errMu sync.Mutex
	errs := map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := func(keepAlive bool, protos ...string) {
		defer wg.Done()
		c := cfg.Clone()
		c.NextProtos = protos
		hc := httpsClient(addr, c, keepAlive)
		defer hc.CloseIdleConnections()
		for i := 0; i < 100000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// POST: a client never retries it, so nothing hides a drop.
			resp, err := hc.Post("https://site.test/", "text/plain", strings.NewReader("payload"))
			if err != nil {
				failed.Add(1)
				errMu.Lock()
				errs[err.Error()]++
				errMu.Unlock()
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				failed.Add(1)
				continue
			}
			ok.Add(1)
			if !keepAlive {
				handshakes.Add(1)
			}
		}
	}
	for i := 0; i < 3; i++ {
		wg.Add(3)
		go client(false, "h2", "http/1.1") // a TLS handshake per request
		go client(true, "h2")              // HTTP/2, one connection
		go client(true, "http/1.1")        // HTTP/1.1 keep-alive
	}

	pids := []int{d.pid()}
	for i := 1; i <= 20; i++ {
		if len(pids) >= 2 { // keep within max_draining
			d.waitExit(pids[len(pids)-2])
		}
		leaf = issue()
		pids = append(pids, load(t, admin, tlsSite(admin, addr, filesWrapper(leaf), fmt.Sprint("gen", i))))
		st := waitTLSAnswer(t, addr, cfg, fmt.Sprint("gen", i))
		if st.PeerCertificates[0].SerialNumber.Cmp(leaf.Cert.SerialNumber) != 0 {
			t.Fatalf("generation %d serves the old certificate", i+1)
		}
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	for _, pid := range pids[:len(pids)-1] {
		d.waitExit(pid)
	}
	t.Logf("%d requests (%d with their own handshake), %d failed, over 20 upgrades", ok.Load(), handshakes.Load(), failed.Load())
	if failed.Load() > 0 || handshakes.Load() == 0 {
		t.Fatalf("%d of %d requests failed: %v", failed.Load(), ok.Load()+failed.Load(), errs)
	}
}

// frozenCache stops recording sessions once frozen, so that a later
// resumption can only use a ticket from before.
type frozenCache struct {
	tls.ClientSessionCache
	frozen atomic.Bool
}

func (c *frozenCache) Put(key string, cs *tls.ClientSessionState) {
	if !c.frozen.Load() {
		c.ClientSessionCache.Put(key, cs)
	}
}

func TestTLSSessionResumesAcrossUpgrade(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, dir, "site", tlstest.LeafOptions{Names: []string{"site.test"}})
	admin, addr := freeAddr(t), freeAddr(t)
	d := startFlipd(t, tlsSite(admin, addr, filesWrapper(leaf), "gen1"))

	for i, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		cache := &frozenCache{ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		cfg := &tls.Config{ServerName: "site.test", RootCAs: ca.Pool(), MaxVersion: version, ClientSessionCache: cache}
		before := fmt.Sprint("gen", i+1)
		if body, st, err := httpsGet(addr, cfg); err != nil || body != before || st.DidResume {
			t.Fatalf("%s: first request: %q, resumed %v, %v", tls.VersionName(version), body, st.DidResume, err)
		}
		cache.frozen.Store(true) // only the ticket of the old generation from now on
		old := d.pid()
		after := fmt.Sprint("gen", i+2)
		load(t, admin, tlsSite(admin, addr, filesWrapper(leaf), after))
		st := waitTLSAnswer(t, addr, cfg, after)
		if !st.DidResume {
			t.Fatalf("%s: a session from generation %d did not resume against generation %d", tls.VersionName(version), i+1, i+2)
		}
		d.waitExit(old)
	}
}

func TestTLSACMEOrdersNothingAcrossUpgrades(t *testing.T) {
	p := tlstest.StartPebble(t, tlstest.PebbleOptions{})
	wrapper := fmt.Sprintf(`{"module": "tls", "acme": {"directory": %q, "email": "ops@flipd.test", "domains": ["www.flipd.test", "api.flipd.test"],
		"trusted_roots_pem_files": [%q], "listen_host": "127.0.0.1", "alt_http_port": %d, "alt_tls_alpn_port": %d, "profile": "default"}}`,
		p.DirectoryURL, p.RootsFile, p.HTTPPort, p.TLSPort)
	admin, addr := freeAddr(t), freeAddr(t)
	d := startFlipd(t, tlsSite(admin, addr, wrapper, "gen1"))
	trust := tlstest.NewCA(t, t.TempDir(), "unused").Pool()
	trust.AppendCertsFromPEM(p.RootPEM())
	check := func(body string) {
		t.Helper()
		for _, name := range []string{"www.flipd.test", "api.flipd.test"} {
			waitTLSAnswer(t, addr, &tls.Config{ServerName: name, RootCAs: trust}, body)
		}
	}
	check("gen1")
	if p.Orders() != 2 {
		t.Fatalf("generation 1 made %d orders, want 2", p.Orders())
	}
	pids := []int{d.pid()}
	for i := 2; i <= 11; i++ {
		if len(pids) >= 2 {
			d.waitExit(pids[len(pids)-2])
		}
		pids = append(pids, load(t, admin, tlsSite(admin, addr, wrapper, fmt.Sprint("gen", i))))
		check(fmt.Sprint("gen", i))
		if got := p.Orders(); got != 2 {
			t.Fatalf("after upgrade to generation %d, Pebble has %d orders; want 2, all from generation 1", i, got)
		}
	}
	for _, pid := range pids[:len(pids)-1] {
		d.waitExit(pid)
	}
	if locks, _ := filepath.Glob(filepath.Join(d.dir, "data", "flipd", "tls", "locks", "*")); len(locks) > 0 {
		t.Fatalf("storage locks left behind by exited generations: %v", locks)
	}
	// certmagic's lines go through flipd's logger, with pid and generation.
	if !regexp.MustCompile(`flipd\.tls\.certmagic\.obtain: obtaining certificate: generation=1 listener=web pid=\d+`).MatchString(d.log()) ||
		!regexp.MustCompile(`flipd\.tls\.certmagic.*generation=11`).MatchString(d.log()) {
		t.Fatalf("certmagic's logs lack pid and generation:\n%s", d.log())
	}
}

func TestTLSACMEChallengesOnTheServingSocket(t *testing.T) {
	p := tlstest.StartPebble(t, tlstest.PebbleOptions{})
	// flipd listens where the CA validates tls-alpn-01 (443 in real
	// life), the only challenge allowed: generation 1 answers on its own
	// socket before it serves; during an upgrade that adds a domain, the
	// old generation, which still accepts, answers for the new one.
	wrapper := func(domains string) string {
		return fmt.Sprintf(`{"module": "tls", "acme": {"directory": %q, "domains": %s, "trusted_roots_pem_files": [%q],
			"disable_http_challenge": true, "listen_host": "127.0.0.1", "alt_tls_alpn_port": %d, "profile": "default"}}`,
			p.DirectoryURL, domains, p.RootsFile, p.TLSPort)
	}
	admin, addr := freeAddr(t), fmt.Sprintf("127.0.0.1:%d", p.TLSPort)
	d := startFlipd(t, tlsSite(admin, addr, wrapper(`["one.flipd.test"]`), "gen1"))
	trust := tlstest.NewCA(t, t.TempDir(), "unused").Pool()
	trust.AppendCertsFromPEM(p.RootPEM())
	waitTLSAnswer(t, addr, &tls.Config{ServerName: "one.flipd.test", RootCAs: trust}, "gen1")

	load(t, admin, tlsSite(admin, addr, wrapper(`["one.flipd.test", "two.flipd.test"]`), "gen2"))
	for _, name := range []string{"one.flipd.test", "two.flipd.test"} {
		waitTLSAnswer(t, addr, &tls.Config{ServerName: name, RootCAs: trust}, "gen2")
	}
	if p.Orders() != 2 {
		t.Fatalf("%d orders, want 2", p.Orders())
	}
	if !regexp.MustCompile(`served key authentication certificate: generation=1 .*distributed=true.*server_name=two.flipd.test`).MatchString(d.log()) {
		t.Fatalf("generation 1 did not answer generation 2's challenge:\n%s", d.log())
	}
}

func TestTLSRenewedCertificateServedWithoutReexec(t *testing.T) {
	p := tlstest.StartPebble(t, tlstest.PebbleOptions{ShortLived: 8 * time.Second})
	wrapper := fmt.Sprintf(`{"module": "tls", "acme": {"directory": %q, "domains": ["short.flipd.test"], "profile": "shortlived",
		"trusted_roots_pem_files": [%q], "listen_host": "127.0.0.1", "alt_http_port": %d, "alt_tls_alpn_port": %d},
		"renewal": {"window_ratio": 0.5, "check_interval": "250ms"}}`, p.DirectoryURL, p.RootsFile, p.HTTPPort, p.TLSPort)
	addr := freeAddr(t)
	d := startFlipd(t, tlsSite("", addr, wrapper, "one"))
	cfg := &tls.Config{ServerName: "short.flipd.test", RootCAs: tlstest.NewCA(t, t.TempDir(), "unused").Pool()}
	cfg.RootCAs.AppendCertsFromPEM(p.RootPEM())
	first := waitTLSAnswer(t, addr, cfg, "one").PeerCertificates[0]
	d.waitFor("a renewed certificate", func() bool {
		_, st, err := httpsGet(addr, cfg)
		return err == nil && st.PeerCertificates[0].SerialNumber.Cmp(first.SerialNumber) != 0
	})
	if p.Orders() < 2 {
		t.Fatalf("a new certificate without a new order (%d)", p.Orders())
	}
	if d.pid() != d.cmd.Process.Pid {
		t.Fatal("the renewal re-executed flipd")
	}
}

func TestTLSBadInputRefusedOldGenerationServes(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	good := ca.Issue(t, dir, "good", tlstest.LeafOptions{Names: []string{"site.test"}})
	other := ca.Issue(t, dir, "other", tlstest.LeafOptions{Names: []string{"site.test"}})
	expired := ca.Issue(t, dir, "expired", tlstest.LeafOptions{Names: []string{"site.test"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	unreadable := filepath.Join(dir, "unreadable.crt")
	os.Mkdir(unreadable, 0o755)
	missing := filepath.Join(dir, "missing.crt")
	closed := freeAddr(t)
	p := tlstest.StartPebble(t, tlstest.PebbleOptions{})
	taken, err := net.Listen("tcp", "127.0.0.1:0") // another program's port
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	go http.Serve(taken, http.NotFoundHandler())
	acme := func(directory, domain, extra string) string {
		return fmt.Sprintf(`{"module": "tls", "acme": {"directory": %q, "domains": [%q], "trusted_roots_pem_files": [%q],
			"listen_host": "127.0.0.1", "alt_http_port": %d, "alt_tls_alpn_port": %d, "profile": "default"%s}}`,
			directory, domain, p.RootsFile, p.HTTPPort, p.TLSPort, extra)
	}
	files := func(cert, key string) string {
		return filesWrapper(tlstest.Leaf{CertFile: cert, KeyFile: key})
	}

	admin, addr := freeAddr(t), freeAddr(t)
	config := tlsSite(admin, addr, filesWrapper(good), "one")
	d := startFlipd(t, config)
	cfg := &tls.Config{ServerName: "site.test", RootCAs: ca.Pool()}
	waitTLSAnswer(t, addr, cfg, "one")

	for _, tc := range []struct {
		name, wrapper string
		status        int
		want          []string
	}{
		{"missing cert file", files(missing, good.KeyFile), 400, []string{"cert_file " + missing, "no such file"}},
		{"unreadable cert file", files(unreadable, good.KeyFile), 400, []string{"cert_file " + unreadable, "is a directory"}},
		{"key of another certificate", files(good.CertFile, other.KeyFile), 400, []string{"key_file " + other.KeyFile + " does not match"}},
		{"expired certificate", filesWrapper(expired), 400, []string{"cert_file " + expired.CertFile, "expired at"}},
		{"unreachable ACME server", acme("https://"+closed+"/dir", "x.flipd.test", ""), 400, []string{"directory https://" + closed + "/dir is unreachable"}},
		{"domain ACME cannot manage", acme(p.DirectoryURL, "127.0.0.1", ""), 400, []string{`domain \"127.0.0.1\" cannot be managed by ACME`}},
		{"invalid domain", acme(p.DirectoryURL, "under_score.flipd.test", ""), 400, []string{`domain \"under_score.flipd.test\" cannot be managed by ACME`}},
		// Provision passes; the order fails in the new generation: its
		// challenge server cannot have its port, so nothing answers the CA.
		{"failed order", strings.Replace(acme(p.DirectoryURL, "fails.flipd.test", `, "disable_tls_alpn_challenge": true`),
			fmt.Sprint(p.HTTPPort), fmt.Sprint(taken.Addr().(*net.TCPAddr).Port), 1), 422, []string{"fails.flipd.test", "obtaining certificate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			a := api(t, "POST", "http://"+admin+"/load", tlsSite(admin, addr, tc.wrapper, "two"))
			if a.status != tc.status || a.body["error"] == nil {
				t.Fatalf("POST /load: %d %s; want %d", a.status, a.raw, tc.status)
			}
			for _, w := range tc.want {
				if !strings.Contains(a.raw, w) {
					t.Fatalf("the refusal does not say %q: %s", w, a.raw)
				}
			}
			t.Logf("refused in %s: %s", time.Since(start).Round(time.Millisecond), a.body["error"])
			if body, _, err := httpsGet(addr, cfg); err != nil || body != "one" {
				t.Fatalf("after the refusal generation 1 answered %q, %v", body, err)
			}
			if got := api(t, "GET", "http://"+admin+"/config", ""); got.raw != config {
				t.Fatalf("the config changed after a refused load:\n%s", got.raw)
			}
		})
	}
	if p := d.pid(); p != d.cmd.Process.Pid {
		t.Fatalf("pid file names %d after refusals, want generation 1's %d", p, d.cmd.Process.Pid)
	}
}

func TestTLSWithOpenSSLAndTCP(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, dir, "site", tlstest.LeafOptions{Names: []string{"site.test"}})
	web, echo := freeAddr(t), freeAddr(t)
	startFlipd(t, fmt.Sprintf(`{"admin": {"disabled": true}, "listeners": {
		"web": {"address": "tcp/%s", "module": "http", "wrappers": [%s], "routes": [{"handle": {"module": "static_response", "body": "hi"}}]},
		"echo": {"address": "tcp/%s", "module": "tcp", "wrappers": [%s], "handle": {"module": "echo"}}}}`,
		web, filesWrapper(leaf), echo, strings.Replace(filesWrapper(leaf), `"module": "tls"`, `"module": "tls", "alpn": []`, 1)))
	waitTLSAnswer(t, web, &tls.Config{ServerName: "site.test", RootCAs: ca.Pool()}, "hi")

	// The tcp module gets TLS too.
	c, err := tls.Dial("tcp", echo, &tls.Config{ServerName: "site.test", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintln(c, "over tls")
	line := make([]byte, 9)
	if _, err := io.ReadFull(c, line); err != nil || string(line) != "over tls\n" {
		t.Fatalf("echo over TLS: %q, %v", line, err)
	}
	c.Close()

	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed; .ci/run installs it")
	}
	for _, alpn := range []string{"h2", "http/1.1"} {
		cmd := exec.Command(openssl, "s_client", "-connect", web, "-servername", "site.test", "-alpn", alpn,
			"-CAfile", ca.File, "-verify_return_error")
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		for _, want := range []string{"Verify return code: 0 (ok)", "ALPN protocol: " + alpn, "CN = site"} {
			if err != nil || !strings.Contains(string(out), want) {
				t.Fatalf("openssl s_client -alpn %s: %v; no %q in:\n%s", alpn, err, want, out)
			}
		}
	}
}

func TestTLSExamples(t *testing.T) {
	certs := t.TempDir()
	crt, key := filepath.Join(certs, "localhost.crt"), filepath.Join(certs, "localhost.key")
	var trust []byte // what clients trust: the self-signed certificate, or the test CA
	if openssl, err := exec.LookPath("openssl"); err == nil {
		// The README's command.
		out, err := exec.Command(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "90",
			"-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", crt).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl req: %v\n%s", err, out)
		}
		trust = must(os.ReadFile(crt))
	} else {
		ca := tlstest.NewCA(t, certs, "ca")
		ca.Issue(t, certs, "localhost", tlstest.LeafOptions{Names: []string{"localhost", "127.0.0.1"}})
		trust = ca.PEM
	}
	raw, err := os.ReadFile("../../examples/tls.json")
	if err != nil {
		t.Fatal(err)
	}
	web, echo := freeAddr(t), freeAddr(t)
	config := strings.NewReplacer("127.0.0.1:8443", web, "127.0.0.1:7443", echo, `"listen": "127.0.0.1:2019"`, `"disabled": true`,
		"examples/certs/localhost.crt", crt, "examples/certs/localhost.key", key).Replace(string(raw))
	startFlipd(t, config)
	pool := tlstest.NewCA(t, t.TempDir(), "unused").Pool()
	pool.AppendCertsFromPEM(trust)
	if body, st, err := httpsGet(web, &tls.Config{ServerName: "localhost", RootCAs: pool, NextProtos: []string{"h2"}}); err != nil || body != "hello over TLS" || st.NegotiatedProtocol != "h2" {
		t.Fatalf("examples/tls.json: %q over %q, %v", body, st.NegotiatedProtocol, err)
	}
	c, err := tls.Dial("tcp", echo, &tls.Config{ServerName: "localhost", RootCAs: pool})
	if err != nil {
		t.Fatalf("the echo listener of examples/tls.json: %v", err)
	}
	c.Close()

	// examples/acme.json, pointed at Pebble, is a valid config.
	p := tlstest.StartPebble(t, tlstest.PebbleOptions{})
	raw, err = os.ReadFile("../../examples/acme.json")
	if err != nil {
		t.Fatal(err)
	}
	acme := strings.NewReplacer("https://acme-staging-v02.api.letsencrypt.org/directory", p.DirectoryURL,
		`"email"`, fmt.Sprintf(`"trusted_roots_pem_files": [%q], "email"`, p.RootsFile),
		"/var/lib/flipd", t.TempDir()).Replace(string(raw))
	file := filepath.Join(t.TempDir(), "acme.json")
	os.WriteFile(file, []byte(acme), 0o644)
	if out, err := exec.Command(flipdBin, "validate", "--config", file).CombinedOutput(); err != nil {
		t.Fatalf("flipd validate examples/acme.json: %v\n%s", err, out)
	}
	if p.Orders() != 0 {
		t.Fatal("validating a config ordered a certificate")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
