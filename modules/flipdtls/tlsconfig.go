package flipdtls

import (
	"crypto/tls"
	"fmt"
	"slices"
)

// acmeTLS1 is the ALPN protocol of tls-alpn-01 challenges.
const acmeTLS1 = "acme-tls/1"

// DefaultALPN is offered unless the config says otherwise.
var DefaultALPN = []string{"h2", "http/1.1"}

// ClientAuth asks clients for certificates.
type ClientAuth struct {
	// Mode is one of:
	//   - "request": ask for a certificate, accept connections without;
	//   - "require": require a certificate, but do not verify it;
	//   - "verify_if_given": accept connections without a certificate,
	//     but verify those given against trusted_ca_files;
	//   - "require_and_verify": require a certificate that verifies
	//     against trusted_ca_files.
	// Default: "require_and_verify".
	Mode string `json:"mode,omitempty"`
	// TrustedCAFiles are PEM files of the CAs that client certificates
	// must chain to; needed by the verifying modes.
	TrustedCAFiles []string `json:"trusted_ca_files,omitempty"`
}

var clientAuthModes = map[string]tls.ClientAuthType{
	"request":            tls.RequestClientCert,
	"require":            tls.RequireAnyClientCert,
	"verify_if_given":    tls.VerifyClientCertIfGiven,
	"require_and_verify": tls.RequireAndVerifyClientCert,
}

func (ca *ClientAuth) check() error {
	if ca == nil {
		return nil
	}
	if ca.Mode == "" {
		ca.Mode = "require_and_verify"
	}
	mode, ok := clientAuthModes[ca.Mode]
	if !ok {
		return fmt.Errorf("mode: %q is not request, require, verify_if_given or require_and_verify", ca.Mode)
	}
	if mode >= tls.VerifyClientCertIfGiven && len(ca.TrustedCAFiles) == 0 {
		return fmt.Errorf("mode %q needs trusted_ca_files", ca.Mode)
	}
	return nil
}

// parseVersion reads min_version.
func parseVersion(v string) (uint16, error) {
	switch v {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	case "1.0", "1.1":
		return 0, fmt.Errorf("TLS %s is not supported: use 1.2 or 1.3", v)
	}
	return 0, fmt.Errorf("%q is not a TLS version: use \"1.2\" or \"1.3\"", v)
}

// buildTLSConfig makes the config that every connection's handshake
// uses; certmagic's cache picks the certificate by SNI.
func (w *Wrapper) buildTLSConfig() error {
	minVersion, _ := parseVersion(w.MinVersion)
	protos := w.ALPN
	if protos == nil {
		protos = DefaultALPN
	}
	for _, p := range protos {
		if p == "" || len(p) > 255 {
			return fmt.Errorf("alpn: %q is not a protocol name", p)
		}
	}
	protos = slices.Clone(protos)
	// A tls-alpn-01 challenge arrives on the TLS port offering only
	// acme-tls/1; certmagic's GetCertificate answers it. Not added to an
	// empty list, since a client offering protocols would then have to
	// share one.
	if !slices.Contains(protos, acmeTLS1) && (len(protos) > 0 || w.ACME != nil && !w.ACME.DisableTLSALPNChallenge) {
		protos = append(protos, acmeTLS1)
	}
	cfg := &tls.Config{
		MinVersion:     minVersion,
		NextProtos:     protos,
		GetCertificate: w.serving.GetCertificate,
	}
	if ca := w.ClientAuth; ca != nil {
		cfg.ClientAuth = clientAuthModes[ca.Mode]
		pool, err := readRoots("client_auth.trusted_ca_files", ca.TrustedCAFiles)
		if err != nil {
			return err
		}
		cfg.ClientCAs = pool
	}
	if err := w.tickets.apply(cfg); err != nil {
		return err
	}
	w.tlsCfg = cfg
	return nil
}
