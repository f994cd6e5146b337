package flipdtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"

	"github.com/flipd/flipd"
)

// DefaultDirectoryTimeout bounds the check, at provision time, that the
// ACME directory answers.
const DefaultDirectoryTimeout = 10 * time.Second

// ACME obtains certificates from an ACME CA and renews them in the
// background. Certificates, the account and its key are kept in storage
// (storage.dir/tls), which every generation shares: an upgrade loads
// them from there and orders nothing.
type ACME struct {
	// Directory is the CA's ACME directory URL. Default: Let's
	// Encrypt's production directory.
	Directory string `json:"directory,omitempty"`

	// Email is the account's contact, where the CA sends notices.
	Email string `json:"email,omitempty"`

	// Domains are the names to obtain certificates for, one certificate
	// each. A wildcard ("*.example.com") needs a CA that allows it.
	// Loopback and private addresses and internal names (localhost,
	// *.local, *.internal) cannot be validated by an ACME CA: use
	// "internal" for those.
	Domains []string `json:"domains"`

	// TrustedRootsPEMFiles are CA certificates to trust for the
	// directory's HTTPS (a private CA's, Pebble's); default: the
	// system's roots.
	TrustedRootsPEMFiles []string `json:"trusted_roots_pem_files,omitempty"`

	// Profile asks the CA for a certificate profile ("shortlived",
	// say), if it offers several.
	Profile string `json:"profile,omitempty"`

	// ExternalAccount binds the account to one at the CA (ZeroSSL and
	// other CAs that require it): {"key_id": "...", "mac_key": "..."}.
	ExternalAccount *acme.EAB `json:"external_account,omitempty"`

	// DisableHTTPChallenge turns off the http-01 challenge, answered by
	// a server that flipd starts, for the challenge only, on port 80
	// (or AltHTTPPort) of ListenHost.
	DisableHTTPChallenge bool `json:"disable_http_challenge,omitempty"`

	// DisableTLSALPNChallenge turns off the tls-alpn-01 challenge,
	// answered on port 443 (or AltTLSALPNPort): by this listener when
	// it is the one on that port, otherwise by a server that flipd
	// starts for the challenge only.
	DisableTLSALPNChallenge bool `json:"disable_tls_alpn_challenge,omitempty"`

	// AltHTTPPort and AltTLSALPNPort are the ports the challenge servers
	// listen on, when the CA's port 80 or 443 is forwarded to another.
	AltHTTPPort    int `json:"alt_http_port,omitempty"`
	AltTLSALPNPort int `json:"alt_tls_alpn_port,omitempty"`

	// ListenHost is the address the challenge servers listen on.
	// Default: every interface.
	ListenHost string `json:"listen_host,omitempty"`

	// DirectoryTimeout bounds the check, when the config is loaded,
	// that the directory answers. An unreachable directory refuses the
	// config, unless storage holds a valid certificate for every domain
	// (then it is only logged). Default 10s.
	DirectoryTimeout flipd.Duration `json:"directory_timeout,omitzero"`

	issuer *certmagic.ACMEIssuer
}

// check checks the fields, without the network.
func (a *ACME) check() error {
	if a.Directory == "" {
		a.Directory = certmagic.LetsEncryptProductionCA
	}
	u, err := url.Parse(a.Directory)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("directory: %q is not an https URL", a.Directory)
	}
	if len(a.Domains) == 0 {
		return errors.New("domains: name at least one domain")
	}
	seen := map[string]bool{}
	for i, d := range a.Domains {
		d = strings.ToLower(strings.TrimSpace(d))
		if err := checkACMEDomain(d); err != nil {
			return fmt.Errorf("domains: %w", err)
		}
		if seen[d] {
			return fmt.Errorf("domains: %q is listed twice", d)
		}
		seen[d] = true
		a.Domains[i] = d
	}
	if a.Email != "" && !strings.Contains(a.Email, "@") {
		return fmt.Errorf("email: %q is not an email address", a.Email)
	}
	for _, p := range []int{a.AltHTTPPort, a.AltTLSALPNPort} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("alt_http_port, alt_tls_alpn_port: %d is not a port", p)
		}
	}
	if a.DisableHTTPChallenge && a.DisableTLSALPNChallenge {
		return errors.New("disable_http_challenge and disable_tls_alpn_challenge: at least one challenge must stay enabled")
	}
	if a.DirectoryTimeout < 0 {
		return errors.New("directory_timeout: must not be negative")
	}
	return nil
}

// checkACMEDomain refuses names that an ACME CA cannot validate.
func checkACMEDomain(d string) error {
	if ip := net.ParseIP(d); ip != nil {
		if certmagic.SubjectIsInternal(d) {
			return fmt.Errorf("domain %q cannot be managed by ACME: it is a loopback or private address (use \"internal\")", d)
		}
		return nil
	}
	if err := checkHostname(d); err != nil {
		return fmt.Errorf("domain %q cannot be managed by ACME: %w", d, err)
	}
	if certmagic.SubjectIsInternal(d) {
		return fmt.Errorf("domain %q cannot be managed by ACME: it is an internal name (use \"internal\")", d)
	}
	if !certmagic.SubjectQualifiesForPublicCert(d) {
		return fmt.Errorf("domain %q cannot be managed by ACME: a wildcard must be the whole left-most label of a name with 3 labels or more", d)
	}
	return nil
}

// checkHostname checks the syntax of a DNS name, with an optional
// left-most "*" label.
func checkHostname(d string) error {
	if d == "" || len(d) > 253 {
		return errors.New("a DNS name has 1 to 253 characters")
	}
	labels := strings.Split(strings.TrimPrefix(d, "*."), ".")
	if len(labels) < 2 {
		return errors.New("a DNS name needs at least two labels")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("label %q: a label has 1 to 63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q: a label cannot start or end with a hyphen", l)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("label %q: %q is not a letter, a digit or a hyphen", l, c)
			}
		}
	}
	return nil
}

// provisionACME builds the ACME issuer and checks that the directory
// answers, unless storage can serve every domain without it.
func (w *Wrapper) provisionACME(ctx context.Context) error {
	a := w.ACME
	roots, err := readRoots("trusted_roots_pem_files", a.TrustedRootsPEMFiles)
	if err != nil {
		return err
	}
	w.acme = w.newManagedConfig(a.Domains, func(cfg *certmagic.Config) certmagic.Issuer {
		a.issuer = certmagic.NewACMEIssuer(cfg, certmagic.ACMEIssuer{
			CA:                      a.Directory,
			Email:                   a.Email,
			Agreed:                  true,
			ExternalAccount:         a.ExternalAccount,
			Profile:                 a.Profile,
			DisableHTTPChallenge:    a.DisableHTTPChallenge,
			DisableTLSALPNChallenge: a.DisableTLSALPNChallenge,
			ListenHost:              a.ListenHost,
			AltHTTPPort:             a.AltHTTPPort,
			AltTLSALPNPort:          a.AltTLSALPNPort,
			TrustedRoots:            roots,
			Logger:                  w.zlog,
		})
		return a.issuer
	})
	err = checkDirectory(ctx, a.Directory, roots, a.DirectoryTimeout.Or(DefaultDirectoryTimeout))
	if err == nil {
		return nil
	}
	for _, d := range a.Domains {
		if !w.storedCertValid(ctx, a.issuer.IssuerKey(), d) {
			return fmt.Errorf("%w; storage has no valid certificate for %q", err, d)
		}
	}
	w.log.Warn("the ACME directory does not answer; serving the certificates in storage, renewals will retry",
		"directory", a.Directory, "error", err)
	return nil
}

// checkDirectory fetches the ACME directory.
func checkDirectory(ctx context.Context, dir string, roots *x509.CertPool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, dir, nil)
	if err != nil {
		return fmt.Errorf("directory %s: %w", dir, err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s (directory_timeout)", timeout)
		}
		return fmt.Errorf("directory %s is unreachable: %w", dir, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("directory %s answered %s", dir, resp.Status)
	}
	var d struct {
		NewOrder string `json:"newOrder"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || d.NewOrder == "" {
		return fmt.Errorf("directory %s does not look like an ACME directory (no newOrder)", dir)
	}
	return nil
}

// storedCertValid reports whether storage holds an unexpired
// certificate for domain from the issuer.
func (w *Wrapper) storedCertValid(ctx context.Context, issuerKey, domain string) bool {
	b, err := w.storage.Load(ctx, certmagic.StorageKeys.SiteCert(issuerKey, domain))
	if err != nil {
		return false
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return false
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	return err == nil && time.Now().Before(leaf.NotAfter)
}

// readRoots reads PEM files of CA certificates into a pool; nil when
// there are none.
func readRoots(field string, files []string) (*x509.CertPool, error) {
	if len(files) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	for _, f := range files {
		b, err := readFile(field, f)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s %s: no PEM certificate in it", field, f)
		}
	}
	return pool, nil
}
