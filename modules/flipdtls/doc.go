// Package flipdtls is flipd's "tls" listener wrapper (listener_wrappers.tls):
// it terminates TLS for any listener module ("http", "tcp", your own),
// with certificates from PEM files, from an ACME CA, or from a local CA,
// managed by github.com/caddyserver/certmagic.
//
// The package is named flipdtls, not tls, so that it never shadows
// crypto/tls and needs no import alias; the module ID in configs stays
// "tls" (listener_wrappers.tls).
//
// Import it for its side effect, from a main package (modules/standard
// does):
//
//	import _ "github.com/flipd/flipd/modules/flipdtls"
//
// # Config
//
// A listener's "wrappers" take the fields of [Wrapper]:
//
//	{"address": "tcp/0.0.0.0:443", "module": "http", "routes": [...],
//	 "wrappers": [{
//	   "module": "tls",
//	   "certificates": [{"cert_file": "/etc/flipd/example.com.crt", "key_file": "/etc/flipd/example.com.key"}],
//	   "acme": {"email": "ops@example.com", "domains": ["www.example.com"]},
//	   "internal": {"domains": ["localhost", "127.0.0.1"]},
//	   "client_auth": {"mode": "verify_if_given", "trusted_ca_files": ["/etc/flipd/clients-ca.pem"]},
//	   "min_version": "1.2",
//	   "alpn": ["h2", "http/1.1"],
//	   "session_tickets": {"rotate_every": "12h", "keep": 4}
//	 }]}
//
// Every certificate, whichever its source, is selected by the server
// name the client sends (SNI); a client that sends none gets default_sni's
// certificate, by default the first one configured.
//
// # Certificates across upgrades
//
// Managed certificates (acme and internal), the ACME account and the
// internal CA live in storage.dir/tls, which every generation shares. A
// new generation loads them from there before it reports ready, and orders
// a certificate only when storage has none, or one due for renewal: an
// upgrade asks the CA for nothing. Renewals happen in the background, in
// the serving generation, and are picked up without an upgrade. A
// generation that hands over stops its renewals as it starts to drain
// (its Stop hook), and releases its storage locks before it exits.
//
// Certificate files are read when a config is loaded: replace them and
// reload. The old generation serves the old certificate to the
// connections it has; the new one serves the new certificate from its
// first handshake.
//
// Loading a config checks each file (readable, a key that matches its
// certificate, not expired), each ACME domain (a name an ACME CA can
// validate), and that the ACME directory answers within
// acme.directory_timeout (10s by default; only a warning when storage
// holds a valid certificate for every domain). Each refusal names the
// file, domain or directory, and the running generation keeps serving.
// Provision obtains nothing, since it also runs when a config is only
// validated. The wrapper's Start hook ([flipd.Starter]), which the
// runtime calls only in the generation about to serve, before it reports
// ready, obtains what storage lacks, within start_timeout, and starts the
// session ticket key rotation; an error there fails the reload with its
// message, naming the listener, and the running generation keeps
// serving.
//
// # Session resumption
//
// Session ticket keys are random, made once, rotated every
// session_tickets.rotate_every (older keys keep decrypting), and handed
// to the next generation in memory with the sockets; they are never
// written to disk. A client resumes its session across upgrades.
//
// # Logs
//
// certmagic logs through flipd's logger, under the name
// "tls.certmagic", with pid, generation and listener.
package flipdtls
