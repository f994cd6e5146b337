// Package testca makes certificates for tests and benchmarks: a
// certificate authority of their own, and certificates it issues for
// loopback addresses and made-up names. It is flipd's one maker of such
// certificates; modules/flipdtls/tlstest and flipdtest wrap it for
// tests (failing the test on an error), and bench uses it as it is.
//
// It imports only the standard library, so that any package of flipd,
// a binary such as flipd-bench included, can use it.
package testca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority made for a test.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// PEM is Cert, PEM-encoded; File holds it.
	PEM  []byte
	File string
}

// New makes a CA named name, valid from an hour ago for a day, and
// writes its certificate to dir/name.pem.
func New(dir, name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("making the key of CA %q: %w", name, err)
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("making the certificate of CA %q: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{Cert: cert, Key: key, PEM: pemCert(der), File: filepath.Join(dir, name+".pem")}
	if err := writeFile(ca.File, ca.PEM); err != nil {
		return nil, err
	}
	return ca, nil
}

// Pool is a certificate pool that trusts ca.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// LeafOptions describe a certificate that a CA issues.
type LeafOptions struct {
	// Names are DNS names or IP addresses.
	Names []string
	// NotBefore and NotAfter default to an hour ago and a day from now.
	NotBefore, NotAfter time.Time
	// Client makes a client certificate instead of a server one.
	Client bool
}

// Leaf is an issued certificate and its files.
type Leaf struct {
	Cert              *x509.Certificate
	TLS               tls.Certificate
	CertFile, KeyFile string
}

// Issue issues a certificate and writes it to dir as base.crt and
// base.key (each file atomically, so that a process reading it never
// sees half of it).
func (ca *CA) Issue(dir, base string, opts LeafOptions) (Leaf, error) {
	if opts.NotBefore.IsZero() {
		opts.NotBefore = time.Now().Add(-time.Hour)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = time.Now().Add(24 * time.Hour)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Leaf{}, fmt.Errorf("making the key of %q: %w", base, err)
	}
	sn, err := serial()
	if err != nil {
		return Leaf{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: base},
		NotBefore:    opts.NotBefore,
		NotAfter:     opts.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if opts.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, n := range opts.Names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return Leaf{}, fmt.Errorf("issuing %q: %w", base, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Leaf{}, err
	}
	l := Leaf{CertFile: filepath.Join(dir, base+".crt"), KeyFile: filepath.Join(dir, base+".key")}
	certPEM, keyPEM := pemCert(der), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeFile(l.CertFile, certPEM); err != nil {
		return Leaf{}, err
	}
	if err := writeFile(l.KeyFile, keyPEM); err != nil {
		return Leaf{}, err
	}
	if l.TLS, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return Leaf{}, err
	}
	l.Cert = l.TLS.Leaf
	return l, nil
}

// Loopback makes a CA and a server certificate it issues for 127.0.0.1
// and ::1, both written to dir (ca.pem, loopback.crt, loopback.key).
func Loopback(dir string) (*CA, Leaf, error) {
	ca, err := New(dir, "ca")
	if err != nil {
		return nil, Leaf{}, err
	}
	leaf, err := ca.Issue(dir, "loopback", LeafOptions{Names: []string{"127.0.0.1", "::1"}})
	if err != nil {
		return nil, Leaf{}, err
	}
	return ca, leaf, nil
}

func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("making a serial number: %w", err)
	}
	return n, nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// writeFile writes atomically, so that a process reading the file never
// sees half of it.
func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
