package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// runH3 runs the h3 mode against flipd with and without QUIC forwarding,
// and checks HTTP/3 with curl if it can.
func (o *Options) runH3(hasTLS bool) (results []Result, notes []string) {
	for _, t := range h3Targets {
		if !hasTLS {
			results = append(results, Result{Server: t.label, Mode: ModeH3, Skipped: "flipd has no listener_wrappers.tls module"})
			continue
		}
		o.logf("%s, %s: %d upgrades at %d requests/s over %d QUIC connections", t.label, ModeH3, o.Upgrades, o.Rate, o.H3Conns)
		srv, err := o.newH3Flipd(t)
		if err != nil {
			results = append(results, Result{Server: t.label, Mode: ModeH3, Err: err.Error()})
			continue
		}
		r := o.runOne(srv, ModeH3)
		o.logf("  %s", r.line())
		if c := r.Load.Conns; c != nil {
			o.logf("  quic connections: %s", h3ConnsLine(c))
		}
		results = append(results, r)
	}
	if hasTLS {
		notes = append(notes, o.curlHTTP3())
	}
	return results, notes
}

// newH3Flipd is flipd, supervised, with one listener serving HTTP/1.1,
// HTTP/2 and HTTP/3 over TLS, in a directory of its own.
func (o *Options) newH3Flipd(t h3Target) (*flipdServer, error) {
	dir, err := os.MkdirTemp(o.Dir, "h3")
	if err != nil {
		return nil, err
	}
	var addrs [2]string // admin, listener (its UDP port is the same)
	for i := range addrs {
		if addrs[i], err = freeAddr(""); err != nil {
			return nil, err
		}
	}
	cert, err := writeCert(dir)
	if err != nil {
		return nil, err
	}
	s := &flipdServer{proc: flipdProc{bin: o.Flipd, dir: dir, admin: addrs[0]}, label: t.label,
		ports: map[Mode]string{ModeH3: addrs[1]}, caPEM: cert.PEM}
	ls := []listener{{Name: "h3", Addr: addrs[1], TLS: &cert, H3: true, NoForward: !t.forward}}
	for i, body := range s.bodies() {
		s.configs[i] = flipdConfig(addrs[0], filepath.Join(dir, "storage"), body, ls)
	}
	return s, nil
}

// curlHasHTTP3 reports whether the installed curl speaks HTTP/3, and
// its version line.
func curlHasHTTP3() (version string, ok bool) {
	out, err := exec.Command("curl", "--version").Output()
	if err != nil {
		return "", false
	}
	version, _, _ = strings.Cut(string(out), "\n")
	for _, line := range strings.Split(string(out), "\n") {
		if f, found := strings.CutPrefix(line, "Features:"); found {
			return version, strings.Contains(" "+f+" ", " HTTP3 ")
		}
	}
	return version, false
}

// curlHTTP3 is a one-shot check with curl --http3-only, if the
// installed curl has HTTP/3: a request before and after an upgrade of a
// flipd serving HTTP/3. It returns a note for the report.
func (o *Options) curlHTTP3() string {
	version, ok := curlHasHTTP3()
	switch {
	case version == "":
		return "curl is not installed: the curl --http3 check is left out"
	case !ok:
		return fmt.Sprintf("the installed curl has no HTTP/3 (%s; no HTTP3 among its features): the curl --http3 check is left out", version)
	}
	srv, err := o.newH3Flipd(h3Targets[0])
	if err != nil {
		return "curl --http3 check: " + err.Error()
	}
	if err := srv.start(); err != nil {
		return "curl --http3 check: " + err.Error()
	}
	defer srv.stop()
	ca := filepath.Join(srv.proc.dir, "curl-ca.pem")
	if err := os.WriteFile(ca, []byte(srv.caPEM), 0o644); err != nil {
		return "curl --http3 check: " + err.Error()
	}
	get := func() (string, error) {
		out, err := exec.Command("curl", "--http3-only", "-sS", "--max-time", "5", "--cacert", ca, "-d", "payload", srv.url(ModeH3)).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	before, err := get()
	if err != nil {
		return fmt.Sprintf("curl --http3-only (%s) failed before an upgrade: %v: %s", version, err, before)
	}
	if u := srv.upgrade(0); u.Err != "" {
		return "curl --http3 check: upgrade: " + u.Err
	}
	time.Sleep(100 * time.Millisecond)
	after, err := get()
	if err != nil {
		return fmt.Sprintf("curl --http3-only (%s) failed after an upgrade: %v: %s", version, err, after)
	}
	return fmt.Sprintf("curl --http3-only (%s) got %q before an upgrade and %q after it", version, before, after)
}
