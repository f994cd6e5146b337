package bench

import (
	"fmt"
	"strings"
)

// haproxyPorts are the addresses of an HAProxy peer, one listener per
// kind of load.
type haproxyPorts struct {
	Plain, TLS, H2C string
}

// haproxyConfig is haproxy.cfg for master-worker mode: the workers
// answer body themselves (http-request return, no backend) on a plain
// HTTP/1.1, a TLS (pem: the certificate and its key in one file) and a
// cleartext HTTP/2 listener, on loopback. The stats socket exposes the
// listeners so that a new worker takes them over from the old one
// (expose-fd listeners); hard-stop-after bounds an old worker's life as
// nginx's worker_shutdown_timeout does. nofile is the open-file limit
// the bench runs under: HAProxy refuses to start if maxconn needs more
// (it counts two descriptors a connection, as a proxy, and 42 more), so
// ulimit-n says it and maxconn is what fits.
func haproxyConfig(ports haproxyPorts, pem, statsSocket, body string, nofile int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global\n  master-worker\n  ulimit-n %d\n  maxconn %d\n", nofile, haproxyMaxConn(nofile))
	fmt.Fprintf(&b, "  stats socket %s mode 600 level admin expose-fd listeners\n", statsSocket)
	b.WriteString("  hard-stop-after 10s\n")
	// No TLS session cache, as nginx's ssl_session_cache off: every new
	// connection makes a full handshake.
	b.WriteString("  tune.ssl.cachesize 0\n")
	b.WriteString("\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  timeout http-keep-alive 60s\n")
	ret := fmt.Sprintf("  http-request return status 200 content-type text/plain string %q\n", body)
	fmt.Fprintf(&b, "\nfrontend plain\n  bind %s\n%s", ports.Plain, ret)
	fmt.Fprintf(&b, "\nfrontend h2c\n  bind %s proto h2\n%s", ports.H2C, ret)
	fmt.Fprintf(&b, "\nfrontend tls\n  bind %s ssl crt %s alpn http/1.1 no-tls-tickets\n%s", ports.TLS, pem, ret)
	return b.String()
}

// haproxyMaxConn is the maxconn HAProxy accepts with nofile descriptors.
func haproxyMaxConn(nofile int) int { return max((nofile-100)/2, 100) }
