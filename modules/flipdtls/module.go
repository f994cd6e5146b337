package flipdtls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"

	"github.com/flipd/flipd"
)

func init() { flipd.RegisterModule(new(Wrapper)) }

// Defaults used when the config leaves a field out.
const (
	// DefaultStartTimeout bounds how long a generation waits, before it
	// reports ready, for its managed certificates (loaded from storage,
	// or ordered when storage has none).
	DefaultStartTimeout = 2 * time.Minute
	// DefaultRenewCheckInterval is how often managed certificates are
	// checked for renewal.
	DefaultRenewCheckInterval = 10 * time.Minute
)

// storageSubdir is where, under storage.dir, certificates, ACME accounts,
// locks and the internal CA live: certmagic's file storage layout.
const storageSubdir = "tls"

// Wrapper is the "tls" listener wrapper (listener_wrappers.tls): it
// terminates TLS on a listener's connections before its listener module
// ("http", "tcp", your own) sees them. Certificates come from PEM files,
// from an ACME CA, or from a local CA that flipd keeps in storage; any mix
// of the three, selected by SNI.
type Wrapper struct {
	// Certificates are certificate and key PEM files. Each is loaded,
	// checked (readable, key matching, not expired) and served for the
	// names it holds. Replace the files and reload to rotate them.
	Certificates []CertificateFiles `json:"certificates,omitempty"`

	// ACME obtains and renews certificates from an ACME CA (Let's
	// Encrypt, a private CA such as step-ca, Pebble in tests).
	ACME *ACME `json:"acme,omitempty"`

	// Internal issues certificates from a local CA that flipd creates
	// once and keeps in storage; for development and internal names.
	Internal *Internal `json:"internal,omitempty"`

	// DefaultSNI is the name whose certificate is served to clients that
	// send no server name (SNI), such as clients that connect by IP
	// address. Default: the first name of the first certificate (files
	// first, then acme domains, then internal domains).
	DefaultSNI string `json:"default_sni,omitempty"`

	// FallbackSNI is the name whose certificate is served when the
	// client's server name matches no certificate. Default: none, and
	// the handshake fails.
	FallbackSNI string `json:"fallback_sni,omitempty"`

	// ClientAuth asks clients for certificates. Default: not asked.
	ClientAuth *ClientAuth `json:"client_auth,omitempty"`

	// MinVersion is the oldest TLS version accepted: "1.2" (the
	// default) or "1.3".
	MinVersion string `json:"min_version,omitempty"`

	// ALPN lists the application protocols offered, by preference.
	// Default ["h2", "http/1.1"], so that the "http" module speaks
	// HTTP/2 to the clients that can. [] offers none (a raw "tcp"
	// service, say).
	ALPN []string `json:"alpn,omitempty"`

	// SessionTickets configures TLS session resumption.
	SessionTickets SessionTickets `json:"session_tickets,omitzero"`

	// Renewal tunes the renewal of managed (acme and internal)
	// certificates.
	Renewal Renewal `json:"renewal,omitzero"`

	// StartTimeout bounds how long a new generation waits for its
	// managed certificates before it gives up and the old generation
	// keeps serving. Certificates already in storage load at once; only
	// an order waits on the CA. Default 2m (a reload is also bounded by
	// upgrade.timeout).
	StartTimeout flipd.Duration `json:"start_timeout,omitzero"`

	log        hclog.Logger
	zlog       *zap.Logger
	ctx        context.Context
	generation int
	storage    *certmagic.FileStorage
	cache      *certmagic.Cache
	serving    *certmagic.Config // answers handshakes: every certificate of the cache
	acme       *certmagic.Config
	internal   *certmagic.Config
	issuerOf   map[string]*certmagic.Config // managed name -> its config
	tlsCfg     *tls.Config
	tickets    *ticketRotation
	// ticketRing is processTickets, unless a test sets its own.
	ticketRing *ticketRing

	mu       sync.Mutex // guards issuerOf, ln and served
	ln       *listener  // what WrapListener returned
	served   bool       // Start ran: this config serves
	stopOnce sync.Once
}

// CertificateFiles names a certificate and its key, PEM-encoded.
type CertificateFiles struct {
	// CertFile holds the certificate, followed by its intermediates.
	CertFile string `json:"cert_file"`
	// KeyFile holds the private key.
	KeyFile string `json:"key_file"`
}

// Renewal tunes the renewal of managed certificates.
type Renewal struct {
	// WindowRatio is the share of a certificate's lifetime, at its end,
	// in which it is renewed: 0.33 renews a 90-day certificate 30 days
	// before it expires. Default 1/3. (An ACME CA that supports ARI can
	// ask for an earlier renewal.)
	WindowRatio float64 `json:"window_ratio,omitempty"`
	// CheckInterval is how often certificates are checked. Default 10m.
	CheckInterval flipd.Duration `json:"check_interval,omitzero"`
}

// FlipdModule implements [flipd.Module].
func (*Wrapper) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "listener_wrappers.tls", New: func() flipd.Module { return new(Wrapper) }}
}

// Provision implements [flipd.Provisioner]. It reads and checks every
// file, checks that the ACME directory answers (unless storage already
// holds valid certificates for every domain), and builds the TLS config.
// It obtains nothing: that waits for Start, which the runtime calls only
// in a serving generation, since Provision also runs when a config is
// merely validated.
func (w *Wrapper) Provision(ctx flipd.Context) error {
	w.log = ctx.Logger()
	w.zlog = newZapLogger(w.log.Named("certmagic"))
	w.ctx = ctx
	w.generation = ctx.Generation()
	if err := w.checkFields(); err != nil {
		return err
	}
	w.storage = &certmagic.FileStorage{Path: filepath.Join(ctx.StorageDir(), storageSubdir)}
	w.issuerOf = map[string]*certmagic.Config{}
	w.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   w.configForCert,
		RenewCheckInterval: w.Renewal.CheckInterval.Or(DefaultRenewCheckInterval),
		Logger:             w.zlog,
	})
	w.serving = certmagic.New(w.cache, certmagic.Config{
		Storage:            w.storage,
		Logger:             w.zlog,
		Issuers:            []certmagic.Issuer{}, // serves; never obtains
		DefaultServerName:  w.DefaultSNI,
		FallbackServerName: w.FallbackSNI,
	})
	names, err := w.loadCertificates(ctx)
	if err != nil {
		return err
	}
	if w.ACME != nil {
		if err := w.provisionACME(ctx); err != nil {
			return fmt.Errorf("acme: %w", err)
		}
		names = append(names, w.ACME.Domains...)
		// Handshakes answer tls-alpn-01 challenges that another
		// generation started, found in storage under the issuer's key.
		w.serving.Issuers = []certmagic.Issuer{w.ACME.issuer}
	}
	if w.Internal != nil {
		if err := w.provisionInternal(); err != nil {
			return fmt.Errorf("internal: %w", err)
		}
		names = append(names, w.Internal.Domains...)
	}
	if w.serving.DefaultServerName == "" && len(names) > 0 {
		w.serving.DefaultServerName = names[0]
	}
	ring := w.ticketRing
	if ring == nil {
		ring = processTickets
	}
	w.tickets = w.provisionTickets(ctx, ring)
	return w.buildTLSConfig()
}

// checkFields checks what needs no file and no network.
func (w *Wrapper) checkFields() error {
	if len(w.Certificates) == 0 && w.ACME == nil && w.Internal == nil {
		return errors.New(`no certificates: set "certificates", "acme" or "internal"`)
	}
	if _, err := parseVersion(w.MinVersion); err != nil {
		return fmt.Errorf("min_version: %w", err)
	}
	if r := w.Renewal.WindowRatio; r < 0 || r >= 1 {
		return fmt.Errorf("renewal.window_ratio: must be between 0 and 1, got %v", r)
	}
	if w.Renewal.CheckInterval < 0 || w.StartTimeout < 0 {
		return errors.New("renewal.check_interval and start_timeout must not be negative")
	}
	for i, c := range w.Certificates {
		if c.CertFile == "" || c.KeyFile == "" {
			return fmt.Errorf("certificates[%d]: need both cert_file and key_file", i)
		}
	}
	if err := w.ClientAuth.check(); err != nil {
		return fmt.Errorf("client_auth: %w", err)
	}
	if err := w.SessionTickets.check(); err != nil {
		return fmt.Errorf("session_tickets: %w", err)
	}
	managed := map[string]string{}
	if w.ACME != nil {
		if err := w.ACME.check(); err != nil {
			return fmt.Errorf("acme: %w", err)
		}
		for _, d := range w.ACME.Domains {
			managed[d] = "acme"
		}
	}
	if w.Internal != nil {
		if err := w.Internal.check(); err != nil {
			return fmt.Errorf("internal: %w", err)
		}
		for _, d := range w.Internal.Domains {
			if managed[d] != "" {
				return fmt.Errorf("internal: domain %q is already managed by acme", d)
			}
		}
	}
	return nil
}

// Validate implements [flipd.Validator]: the names given to SNI
// options must have a certificate.
func (w *Wrapper) Validate() error {
	for field, name := range map[string]string{"default_sni": w.DefaultSNI, "fallback_sni": w.FallbackSNI} {
		if name == "" {
			continue
		}
		if !w.hasCertificateFor(name) {
			return fmt.Errorf("%s: no certificate for %q", field, name)
		}
	}
	return nil
}

func (w *Wrapper) hasCertificateFor(name string) bool {
	w.mu.Lock()
	managed := w.issuerOf[name] != nil
	w.mu.Unlock()
	if managed {
		return true
	}
	return len(w.cache.AllMatchingCertificates(name)) > 0
}

// Cleanup implements [flipd.CleanerUpper]: it stops maintenance and,
// if this config served (its process is exiting), releases the storage
// locks this process holds, so that the next generation need not wait
// for them to go stale.
func (w *Wrapper) Cleanup() error {
	w.stopMaintenance()
	w.mu.Lock()
	served := w.served
	w.mu.Unlock()
	if served {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		certmagic.CleanUpOwnLocks(ctx, w.zlog)
	}
	return nil
}

// Interface guards.
var (
	_ flipd.ListenerWrapper = (*Wrapper)(nil)
	_ flipd.Starter         = (*Wrapper)(nil)
	_ flipd.Stopper         = (*Wrapper)(nil)
	_ flipd.Provisioner     = (*Wrapper)(nil)
	_ flipd.Validator       = (*Wrapper)(nil)
	_ flipd.CleanerUpper    = (*Wrapper)(nil)
)
