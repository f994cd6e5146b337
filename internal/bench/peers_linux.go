package bench

import (
	"os"
	"os/exec"
	"path/filepath"
)

// preparePeers finds (or builds) the peers compared beside nginx, Caddy
// and HAProxy, and returns their versions; notes gains a line for each
// one left out, and why.
func (o *Options) preparePeers(notes []string) (map[string]string, []string) {
	peers := map[string]string{}
	switch o.Caddy {
	case "none":
	case "":
		bin, err := caddyBinary(o.logf)
		if err != nil {
			o.logf("Caddy left out: %v", err)
			notes = append(notes, "Caddy could not be built from the Go module proxy, its runs are left out: "+firstLine(err.Error()))
			o.Caddy = "none"
			break
		}
		o.Caddy = bin
	}
	if o.Caddy != "none" {
		if abs, err := filepath.Abs(o.Caddy); err == nil {
			o.Caddy = abs
		}
		peers["caddy"] = caddyVersion(o.Caddy)
	}
	switch o.HAProxy {
	case "none":
	case "":
		if p, err := exec.LookPath("haproxy"); err == nil {
			o.HAProxy = p
		} else if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
			o.HAProxy = "/usr/sbin/haproxy"
		} else {
			notes = append(notes, "HAProxy is not installed: its runs are left out (apt-get install haproxy)")
			o.HAProxy = "none"
		}
	}
	if o.HAProxy != "none" {
		if abs, err := filepath.Abs(o.HAProxy); err == nil {
			o.HAProxy = abs
		}
		peers["haproxy"] = haproxyVersion(o.HAProxy)
	}
	return peers, notes
}

// peerServers adds the peers that preparePeers found to a run's servers.
func (o *Options) peerServers(mk func(string, func(string) (server, error)) func() (server, error),
	out []func() (server, error), names []string) ([]func() (server, error), []string) {
	if usable(o.Caddy) {
		out = append(out, mk("caddy", func(dir string) (server, error) { return newCaddyServer(o.Caddy, dir) }))
		names = append(names, "caddy")
	}
	if usable(o.HAProxy) {
		out = append(out, mk("haproxy", func(dir string) (server, error) { return newHAProxyServer(o.HAProxy, dir) }))
		names = append(names, "haproxy")
	}
	return out, names
}

// usable says whether bin names a binary that preparePeers resolved.
func usable(bin string) bool {
	if bin == "" || bin == "none" || !filepath.IsAbs(bin) {
		return false
	}
	_, err := os.Stat(bin)
	return err == nil
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

// peerURL is where a peer serves mode m, given its plain, TLS and h2c
// addresses ("" for a mode it does not serve).
func peerURL(m Mode, plain, tls, h2c string) string {
	switch m {
	case ModeConn, ModeKeepAlive:
		return "http://" + plain + "/"
	case ModeTLS, ModeTLSConn:
		return "https://" + tls + "/"
	case ModeH2:
		return "http://" + h2c + "/"
	}
	return ""
}
