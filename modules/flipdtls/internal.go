package flipdtls

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
)

// DefaultInternalLifetime is how long certificates from the internal CA
// are valid; they are renewed, in-process, in the last third.
const DefaultInternalLifetime = 7 * 24 * time.Hour

// Storage keys of the internal CA, under storage.dir/tls: its root
// certificate is storage.dir/tls/internal_ca/root.crt, the file to give
// clients that should trust it.
const (
	internalCACert = "internal_ca/root.crt"
	internalCAKey  = "internal_ca/root.key"
	internalCALock = "internal_ca"
	rootLifetime   = 10 * 365 * 24 * time.Hour
)

// Internal issues certificates from a local CA: flipd creates it the
// first time it is needed (an ECDSA P-256 root, valid 10 years) and keeps
// it in storage, at storage.dir/tls/internal_ca/root.crt (and root.key,
// readable by the owner only). Clients trust that root file. Its
// certificates are kept in storage and renewed like ACME ones, without
// the network. For development, and for names no public CA would
// validate ("localhost", 127.0.0.1, *.internal).
type Internal struct {
	// Domains are the names to issue certificates for: host names,
	// "localhost", IP addresses.
	Domains []string `json:"domains"`
	// Lifetime is how long each certificate is valid. Default 168h
	// (7 days).
	Lifetime flipd.Duration `json:"lifetime,omitzero"`
}

func (in *Internal) check() error {
	if len(in.Domains) == 0 {
		return errors.New("domains: name at least one domain")
	}
	for i, d := range in.Domains {
		d = strings.ToLower(strings.TrimSpace(d))
		if !certmagic.SubjectQualifiesForCert(d) {
			return fmt.Errorf("domains: %q is not a host name or an IP address", d)
		}
		in.Domains[i] = d
	}
	if in.Lifetime != 0 && time.Duration(in.Lifetime) < time.Minute {
		return fmt.Errorf("lifetime: %s is shorter than a minute", time.Duration(in.Lifetime))
	}
	return nil
}

func (w *Wrapper) provisionInternal() error {
	iss := &internalIssuer{storage: w.storage, lifetime: w.Internal.Lifetime.Or(DefaultInternalLifetime), log: w.log}
	w.internal = w.newManagedConfig(w.Internal.Domains, func(*certmagic.Config) certmagic.Issuer { return iss })
	return nil
}

// internalIssuer is a certmagic.Issuer that signs with the internal CA.
type internalIssuer struct {
	storage  *certmagic.FileStorage
	lifetime time.Duration
	log      hclog.Logger

	mu   sync.Mutex
	root *x509.Certificate
	key  crypto.Signer
}

// IssuerKey implements certmagic.Issuer: certificates are stored under
// storage.dir/tls/certificates/flipd_internal.
func (*internalIssuer) IssuerKey() string { return "flipd_internal" }

// Issue implements certmagic.Issuer.
func (iss *internalIssuer) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	root, key, err := iss.ca(ctx)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("internal CA: certificate request: %w", err)
	}
	now := time.Now()
	notAfter := now.Add(iss.lifetime)
	if notAfter.After(root.NotAfter) {
		notAfter = root.NotAfter
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    now.Add(-time.Minute), // some clock skew
		NotAfter:     notAfter,
		DNSNames:     csr.DNSNames,
		IPAddresses:  csr.IPAddresses,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, csr.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("internal CA: signing: %w", err)
	}
	return &certmagic.IssuedCertificate{Certificate: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// ca loads the CA from storage, creating it the first time. A storage
// lock keeps two generations from creating two CAs.
func (iss *internalIssuer) ca(ctx context.Context) (*x509.Certificate, crypto.Signer, error) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	if iss.root != nil {
		return iss.root, iss.key, nil
	}
	if err := iss.storage.Lock(ctx, internalCALock); err != nil {
		return nil, nil, fmt.Errorf("internal CA: locking storage: %w", err)
	}
	defer iss.storage.Unlock(context.Background(), internalCALock)

	certPEM, certErr := iss.storage.Load(ctx, internalCACert)
	keyPEM, keyErr := iss.storage.Load(ctx, internalCAKey)
	switch {
	case certErr == nil && keyErr == nil:
		root, key, err := parseCA(certPEM, keyPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("internal CA %s: %w", iss.storage.Filename(internalCACert), err)
		}
		iss.root, iss.key = root, key
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		root, key, err := iss.create(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("internal CA: %w", err)
		}
		iss.root, iss.key = root, key
		iss.log.Info("created the internal CA: give its root to clients that should trust it",
			"root", iss.storage.Filename(internalCACert), "not_after", root.NotAfter)
	default:
		return nil, nil, fmt.Errorf("internal CA %s: reading: %w", iss.storage.Filename(internalCACert), errors.Join(certErr, keyErr))
	}
	return iss.root, iss.key, nil
}

func (iss *internalIssuer) create(ctx context.Context) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "flipd internal CA " + now.UTC().Format("2006-01-02"), Organization: []string{"flipd"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(rootLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := certmagic.PEMEncodePrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	// The key first: a root without its key would be useless.
	if err := iss.storage.Store(ctx, internalCAKey, keyPEM); err != nil {
		return nil, nil, err
	}
	if err := iss.storage.Store(ctx, internalCACert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return nil, nil, err
	}
	return root, key, nil
}

func parseCA(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, nil, errors.New("no PEM certificate")
	}
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := certmagic.PEMDecodePrivateKey(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("its key: %w", err)
	}
	if time.Now().After(root.NotAfter) {
		return nil, nil, fmt.Errorf("the root expired at %s: delete it to have a new one made", root.NotAfter)
	}
	return root, key, nil
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}
