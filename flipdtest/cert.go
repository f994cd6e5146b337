package flipdtest

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/flipd/flipd/internal/testca"
)

// LoopbackCert returns a server certificate for 127.0.0.1 and ::1, and a
// pool that trusts the CA that issued it (written, with the certificate
// and its key, to a temporary directory of t, for curl or openssl).
func LoopbackCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	ca, leaf, err := testca.Loopback(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return leaf.TLS, ca.Pool()
}
