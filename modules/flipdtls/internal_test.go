package flipdtls

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
)

func TestInternalCAKeptInStorage(t *testing.T) {
	storage := t.TempDir()
	config := `{"internal": {"domains": ["localhost", "127.0.0.1"], "lifetime": "24h"}}`
	root := filepath.Join(storage, "tls", "internal_ca", "root.crt")

	g1 := mustProvision(t, storage, config, nil)
	addr := g1.serve(t)
	rootPEM, err := os.ReadFile(root)
	if err != nil {
		t.Fatalf("the internal CA's root is not in storage: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(storage, "tls", "internal_ca", "root.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the root key: %v, %v; want mode 0600", fi.Mode(), err)
	}
	trust := poolOf(rootPEM)
	byName, _, err := request(addr, &tls.Config{ServerName: "localhost", RootCAs: trust})
	if err != nil {
		t.Fatalf("as localhost: %v", err)
	}
	// No SNI (Go sends none for an IP): the certificate for the address.
	_, st, err := request(addr, &tls.Config{RootCAs: trust})
	if err != nil {
		t.Fatalf("by IP address: %v; body %q", err, byName)
	}
	leaf := st.PeerCertificates[0]
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < 24*time.Hour || life > 25*time.Hour {
		t.Fatalf("lifetime %s, want about 24h", life)
	}
	g1.cleanup()

	// The next generation: same CA, same certificates, from storage.
	g2 := mustProvision(t, storage, config, nil)
	_, st2, err := request(g2.serve(t), &tls.Config{RootCAs: trust})
	if err != nil {
		t.Fatalf("generation 2: %v", err)
	}
	if st2.PeerCertificates[0].SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatal("generation 2 issued a new certificate instead of loading the stored one")
	}
	if again, _ := os.ReadFile(root); string(again) != string(rootPEM) {
		t.Fatal("generation 2 made a new CA")
	}
}

func TestStopEndsMaintenance(t *testing.T) {
	g := mustProvision(t, t.TempDir(), `{"internal": {"domains": ["localhost"]}}`, nil)
	addr := g.serve(t)
	if _, _, err := request(addr, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(g.logs.String(), "stopped background certificate maintenance") {
		t.Fatal("maintenance stopped while serving")
	}
	g.w.Stop(context.Background()) // what the runtime calls as the drain starts
	logs := g.logs.String()
	if !strings.Contains(logs, `"@message":"stopped background certificate maintenance"`) || !strings.Contains(logs, `"@module":"certmagic.maintenance"`) {
		t.Fatalf("no sign that maintenance stopped, through the hclog logger:\n%s", logs)
	}
}

func TestZapLogsGoToHclog(t *testing.T) {
	var out logBuffer
	log := hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Info, JSONFormat: true}).With("pid", 42, "generation", 7)
	z := newZapLogger(log.Named("certmagic")).Named("tls.obtain").With(zap.String("identifier", "a.test"))
	z.Debug("hidden: below the level")
	z.Info("Obtaining certificate", zap.Int("attempt", 2), zap.Error(errors.New("boom")))
	got := out.String()
	for _, want := range []string{`"@message":"obtaining certificate"`, `"@module":"certmagic.obtain"`, `"@level":"info"`,
		`"pid":42`, `"generation":7`, `"identifier":"a.test"`, `"attempt":2`, `"error":"boom"`} {
		if !strings.Contains(got, want) {
			t.Fatalf("the log line lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "hidden") {
		t.Fatalf("a debug line passed an info logger:\n%s", got)
	}
	z.Warn("careful")
	z.Error("failed")
	if !strings.Contains(out.String(), `"@level":"warn"`) || !strings.Contains(out.String(), `"@level":"error"`) {
		t.Fatalf("levels lost:\n%s", out.String())
	}
}

// WrapListener only wraps: the certificates are obtained by Start, which
// the runtime calls in the generation about to serve, so that a config
// only validated, or a listener whose socket is merely wrapped, orders
// nothing.
func TestCertificatesAreObtainedByStartNotByWrapListener(t *testing.T) {
	g := mustProvision(t, t.TempDir(), `{"internal": {"domains": ["localhost"]}}`, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln, err := g.w.WrapListener(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer tln.Close()
	if g.w.cachedValid("localhost") {
		t.Fatal("WrapListener obtained a certificate: that is Start's work")
	}
	if err := g.w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer g.w.Stop(context.Background())
	if !g.w.cachedValid("localhost") {
		t.Fatal("after Start there is no certificate for localhost")
	}
}
