package bench

import (
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// listener is one listener of a generated flipd config.
type listener struct {
	Name, Addr string
	TLS        *certFiles // wrap in the "tls" module
	H2C        bool
	// H3 serves HTTP/3 too ("http3": true, needs TLS); NoForward
	// switches off the QUIC forwarding ("http3_forward": false).
	H3, NoForward bool
}

// flipdConfig is a config with an admin API on admin (none if empty), a
// static_response of body on every listener, and lenient drain limits.
func flipdConfig(admin, storage, body string, ls []listener) string {
	ln := map[string]any{}
	for _, l := range ls {
		m := map[string]any{
			"address": "tcp/" + l.Addr,
			"module":  "http",
			"routes":  []any{map[string]any{"handle": map[string]any{"module": "static_response", "body": body}}},
		}
		if l.H2C {
			m["h2c"] = true
		}
		if l.H3 {
			m["http3"] = true
			if l.NoForward {
				m["http3_forward"] = false
			}
		}
		if l.TLS != nil {
			m["wrappers"] = []any{map[string]any{"module": "tls",
				"certificates": []any{map[string]string{"cert_file": l.TLS.Cert, "key_file": l.TLS.Key}}}}
		}
		ln[l.Name] = m
	}
	adminCfg := map[string]any{"disabled": true}
	if admin != "" {
		adminCfg = map[string]any{"listen": admin}
	}
	cfg := map[string]any{
		"admin":     adminCfg,
		"storage":   map[string]any{"dir": storage},
		"upgrade":   map[string]any{"timeout": "30s", "drain_timeout": "30s", "max_draining": 4},
		"logging":   map[string]any{"level": "warn"},
		"listeners": ln,
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return string(b)
}

// freeAddr is a loopback address (host "127.0.0.1" unless given) whose
// port nobody listened on a moment ago.
func freeAddr(host string) (string, error) {
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// flipdHasTLS reports whether the flipd binary has the "tls" listener
// wrapper.
func flipdHasTLS(bin string) bool {
	out, err := exec.Command(bin, "list-modules").Output()
	return err == nil && strings.Contains(string(out), "listener_wrappers.tls\n")
}

// flipdServer is flipd under load, upgraded through its admin API, or
// restarted naively.
type flipdServer struct {
	proc    flipdProc
	naive   bool
	configs [2]string
	ports   map[Mode]string
	caPEM   string
	loads   int    // POST /loads so far, to alternate the configs
	label   string // the name, if not "flipd" (the ws mode's variants)
}

func newFlipdServer(bin, dir string, naive, withTLS bool) (*flipdServer, error) {
	s := &flipdServer{naive: naive, ports: map[Mode]string{}}
	admin, err := freeAddr("")
	if err != nil {
		return nil, err
	}
	s.proc = flipdProc{bin: bin, dir: dir, admin: admin}
	var ls []listener
	// One listener for each protocol: the modes that differ only in
	// how they use connections share it.
	for _, m := range []Mode{ModeConn, ModeTLS, ModeH2} {
		if m == ModeTLS && !withTLS {
			continue
		}
		addr, err := freeAddr("")
		if err != nil {
			return nil, err
		}
		s.ports[m] = addr
		l := listener{Name: string(m), Addr: addr, H2C: m == ModeH2}
		if m == ModeTLS {
			cert, err := writeCert(dir)
			if err != nil {
				return nil, err
			}
			l.TLS, s.caPEM = &cert, cert.PEM
		}
		ls = append(ls, l)
	}
	s.ports[ModeKeepAlive], s.ports[ModeTLSConn] = s.ports[ModeConn], s.ports[ModeTLS]
	for i, body := range s.bodies() {
		s.configs[i] = flipdConfig(admin, filepath.Join(dir, "storage"), body, ls)
	}
	return s, nil
}

func (s *flipdServer) name() string {
	if s.label != "" {
		return s.label
	}
	if s.naive {
		return "flipd, naive restart"
	}
	return "flipd"
}

func (s *flipdServer) bodies() []string { return []string{"flipd-a", "flipd-b"} }
func (s *flipdServer) start() error     { return s.proc.start(s.configs[0]) }
func (s *flipdServer) stop()            { s.proc.stop(35 * time.Second) }
func (s *flipdServer) ca() string       { return s.caPEM }

func (s *flipdServer) url(m Mode) string {
	if s.ports[m] == "" {
		return ""
	}
	if m.tls() || m == ModeH3 {
		return "https://" + s.ports[m] + "/"
	}
	return "http://" + s.ports[m] + "/"
}

// upgrade alternates the two configs; every fourth upgrade of the real
// kind is a POST /upgrade, which keeps the config.
func (s *flipdServer) upgrade(i int) Upgrade {
	if s.naive {
		s.loads++
		u := s.proc.restart(s.configs[s.loads%2])
		u.How = "SIGTERM, start"
		return u
	}
	if i%4 == 3 {
		u := s.proc.reload("")
		u.How = "POST /upgrade"
		return u
	}
	s.loads++
	u := s.proc.reload(s.configs[s.loads%2])
	u.How = "POST /load"
	return u
}

// oldLimit lets one old generation drain while the next upgrade starts
// (max_draining is 4 here, so that a slow drain is seen, not refused).
func (s *flipdServer) oldLimit() int { return 1 }

func (s *flipdServer) role(p proc, all procTree) role { return s.proc.role(p, all) }

// commOf is how /proc names a process running bin: its base name, cut
// to 15 bytes.
func commOf(bin string) string {
	base := filepath.Base(bin)
	return base[:min(len(base), 15)]
}
