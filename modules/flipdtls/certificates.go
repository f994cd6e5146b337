package flipdtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// expiryWarning is how close to its end a certificate file's validity
// must be for loading it to log a warning.
const expiryWarning = 14 * 24 * time.Hour

// loadCertificates reads, checks and caches the certificate files. It
// returns the first name of each certificate, in order.
func (w *Wrapper) loadCertificates(ctx context.Context) ([]string, error) {
	var names []string
	for i, files := range w.Certificates {
		cert, err := readCertificate(files, time.Now())
		if err != nil {
			return nil, fmt.Errorf("certificates[%d]: %w", i, err)
		}
		if left := time.Until(cert.Leaf.NotAfter); left < expiryWarning {
			w.log.Warn("certificate expires soon: replace the file and reload", "cert_file", files.CertFile,
				"not_after", cert.Leaf.NotAfter, "left", left.Round(time.Minute))
		}
		if _, err := w.serving.CacheUnmanagedTLSCertificate(ctx, cert, nil); err != nil {
			return nil, fmt.Errorf("certificates[%d]: %s: %w", i, files.CertFile, err)
		}
		if n := certNames(cert.Leaf); len(n) > 0 {
			names = append(names, n[0])
		}
	}
	return names, nil
}

// readCertificate loads a certificate and its key and checks that they
// can be served at now. Errors name the file at fault.
func readCertificate(files CertificateFiles, now time.Time) (tls.Certificate, error) {
	certPEM, err := readFile("cert_file", files.CertFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readFile("key_file", files.KeyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, describeKeyPairError(files, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("cert_file %s: %w", files.CertFile, err)
		}
		cert.Leaf = leaf
	}
	if now.After(leaf.NotAfter) {
		return tls.Certificate{}, fmt.Errorf("cert_file %s: the certificate for %v expired at %s",
			files.CertFile, certNames(leaf), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return tls.Certificate{}, fmt.Errorf("cert_file %s: the certificate for %v is not valid before %s",
			files.CertFile, certNames(leaf), leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if len(certNames(leaf)) == 0 {
		return tls.Certificate{}, fmt.Errorf("cert_file %s: the certificate names no host (no DNS or IP subject alternative name)", files.CertFile)
	}
	return cert, nil
}

func readFile(field, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path comes first already
		}
		return nil, fmt.Errorf("%s %s: %w", field, path, err)
	}
	return b, nil
}

// describeKeyPairError says which file crypto/tls found wanting.
func describeKeyPairError(files CertificateFiles, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "does not match public key"):
		return fmt.Errorf("key_file %s does not match the certificate in cert_file %s", files.KeyFile, files.CertFile)
	case strings.Contains(msg, "certificate input") || strings.Contains(msg, "CERTIFICATE") || strings.Contains(msg, "x509:") ||
		strings.Contains(msg, "public key algorithm"):
		return fmt.Errorf("cert_file %s: %w", files.CertFile, err)
	default:
		return fmt.Errorf("key_file %s: %w", files.KeyFile, err)
	}
}

// certNames lists the names a certificate serves: DNS names, then IP
// addresses, or the common name if it has neither.
func certNames(leaf *x509.Certificate) []string {
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = append(names, leaf.Subject.CommonName)
	}
	return names
}
