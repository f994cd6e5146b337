package flipdtls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/caddyserver/certmagic"
)

// configForCert tells certmagic's cache which config manages a
// certificate: the one that obtained it, or the serving one for files.
func (w *Wrapper) configForCert(cert certmagic.Certificate) (*certmagic.Config, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, name := range cert.Names {
		if cfg := w.issuerOf[name]; cfg != nil {
			return cfg, nil
		}
	}
	return w.serving, nil
}

// newManagedConfig makes the certmagic config of one issuer.
func (w *Wrapper) newManagedConfig(domains []string, issuer func(*certmagic.Config) certmagic.Issuer) *certmagic.Config {
	cfg := certmagic.New(w.cache, certmagic.Config{
		Storage:            w.storage,
		Logger:             w.zlog,
		RenewalWindowRatio: w.Renewal.WindowRatio,
		Issuers:            []certmagic.Issuer{}, // set below: the issuer needs the config
	})
	cfg.Issuers = []certmagic.Issuer{issuer(cfg)}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range domains {
		w.issuerOf[d] = cfg
	}
	return cfg
}

// WrapListener implements [flipd.ListenerWrapper]: connections
// accepted from the listener it returns are *tls.Conn. It only wraps:
// certificates are made ready by Start, which the runtime calls next.
func (w *Wrapper) WrapListener(ln net.Listener) (net.Listener, error) {
	if w.tlsCfg == nil {
		return nil, errors.New("tls: WrapListener called before Provision")
	}
	tln := &listener{Listener: tls.NewListener(ln, w.tlsCfg), raw: ln}
	w.mu.Lock()
	w.ln = tln
	w.mu.Unlock()
	return tln, nil
}

// Start implements [flipd.Starter]. Before it returns, every managed
// certificate is in the cache: loaded from storage, which every
// generation shares, or obtained if storage has none (or only one due for
// renewal), within start_timeout. So a new generation reports ready only
// once it can serve every name, and an upgrade orders nothing that
// storage holds. In the first generation, when a certificate must be
// ordered, it also accepts meanwhile on the wrapped socket, to answer
// tls-alpn-01 challenges there; the other connections it accepts are
// the listener's first (see earlyAcceptor). Start then starts the session
// ticket key rotation. The runtime calls it only in the generation about
// to serve, since Provision also runs when a config is only validated.
func (w *Wrapper) Start(ctx context.Context) error {
	if w.tlsCfg == nil {
		return errors.New("Start called before Provision")
	}
	ctx, cancel := context.WithTimeout(ctx, w.StartTimeout.Or(DefaultStartTimeout))
	defer cancel()
	start := time.Now()
	w.mu.Lock()
	ln := w.ln
	w.mu.Unlock()
	var early *earlyAcceptor
	if ln != nil && w.answersOwnChallenges(ctx) {
		early = startEarlyAcceptor(ln.raw, w.tlsCfg)
	}
	err := w.manageAll(ctx)
	conns := early.stop()
	if err != nil {
		closeAll(conns)
		return err
	}
	if ln != nil {
		ln.hold(conns)
	}
	if w.ACME != nil || w.Internal != nil {
		w.log.Info("managed certificates ready", "elapsed", time.Since(start).Round(time.Millisecond))
	}
	w.mu.Lock()
	w.served = true
	w.mu.Unlock()
	w.tickets.start()
	return nil
}

// Stop implements [flipd.Stopper]: as its generation starts to drain,
// it stops certificate renewals and the session ticket key rotation,
// which the next generation carries on.
func (w *Wrapper) Stop(ctx context.Context) error {
	w.stopMaintenance()
	return nil
}

func (w *Wrapper) manageAll(ctx context.Context) error {
	if w.ACME != nil {
		if err := w.manage(ctx, w.acme, w.ACME.Domains); err != nil {
			return fmt.Errorf("acme: %s: %w", w.ACME.Directory, err)
		}
	}
	if w.Internal != nil {
		if err := w.manage(ctx, w.internal, w.Internal.Domains); err != nil {
			return fmt.Errorf("internal: %w", err)
		}
	}
	return nil
}

// answersOwnChallenges reports whether this listener must accept while
// certificates are ordered, to answer tls-alpn-01 challenges: in the
// first generation (later ones have a predecessor that accepts, and
// answers challenges from the shared storage), when a certificate must
// be ordered.
func (w *Wrapper) answersOwnChallenges(ctx context.Context) bool {
	if w.ACME == nil || w.ACME.DisableTLSALPNChallenge || w.generation > 1 {
		return false
	}
	for _, d := range w.ACME.Domains {
		if !w.storedCertValid(ctx, w.ACME.issuer.IssuerKey(), d) {
			return true
		}
	}
	return false
}

// manage puts the certificate of every domain in the cache, from storage
// or from the issuer, and keeps them renewed. A domain whose renewal
// fails while its certificate is still valid is served anyway, and
// maintenance retries: a CA's outage must not stop a reload.
func (w *Wrapper) manage(ctx context.Context, cfg *certmagic.Config, domains []string) error {
	for _, d := range domains {
		err := cfg.ManageSync(ctx, []string{d})
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: not ready within start_timeout: %w", d, err)
		}
		if !w.cachedValid(d) {
			return err
		}
		w.log.Warn("renewing a certificate failed; serving the current one, and retrying", "domain", d, "error", err)
	}
	return nil
}

// cachedValid reports whether the cache has an unexpired certificate
// for name.
func (w *Wrapper) cachedValid(name string) bool {
	for _, c := range w.cache.AllMatchingCertificates(name) {
		if !c.Expired() {
			return true
		}
	}
	return false
}

// stopMaintenance stops certmagic's background renewals (and the
// ticket key rotation): once this generation has handed its listener
// over, the next one maintains the certificates.
func (w *Wrapper) stopMaintenance() {
	w.stopOnce.Do(func() {
		if w.cache != nil {
			w.cache.Stop()
		}
		w.tickets.stop()
	})
}

// TLSConfig returns the config this wrapper's handshakes use, for a
// listener module that also serves QUIC on the same port (HTTP/3): the
// same certificates and session ticket keys. Callers must not change it;
// clone it to set NextProtos.
func (w *Wrapper) TLSConfig() *tls.Config { return w.tlsCfg }
