package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// wsFlipdConfig is the ws mode's flipd config: a "ws" listener whose http
// module proxies to the WebSocket backend (and answers GET /version with
// version, so that the two configs differ), and a "tcp" listener whose
// proxy handler forwards to the TCP backend. move, if not nil, sets
// "upgrade": {"move_connections": ...}.
func wsFlipdConfig(admin, storage, version, wsAddr, tcpAddr string, backend EchoAddrs, drain time.Duration, move *bool) string {
	upgrade := map[string]any{"timeout": "30s", "drain_timeout": drain.String(), "max_draining": 4}
	if move != nil {
		upgrade["move_connections"] = *move
	}
	cfg := map[string]any{
		"admin":   map[string]any{"listen": admin},
		"storage": map[string]any{"dir": storage},
		"upgrade": upgrade,
		"logging": map[string]any{"level": "warn"},
		"listeners": map[string]any{
			"ws": map[string]any{"address": "tcp/" + wsAddr, "module": "http", "routes": []any{
				map[string]any{"match": map[string]any{"path": "/version"},
					"handle": map[string]any{"module": "static_response", "body": version}},
				map[string]any{"handle": map[string]any{"module": "reverse_proxy", "upstreams": []string{backend.WS}}},
			}},
			"tcp": map[string]any{"address": "tcp/" + tcpAddr, "module": "tcp",
				"handle": map[string]any{"module": "proxy", "upstream": backend.TCP}},
		},
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return string(b)
}

// newWSFlipd is flipd, supervised, with the ws mode's two configs.
func newWSFlipd(bin, dir, label string, backend EchoAddrs, drain time.Duration, move *bool) (server, string, string, error) {
	var addrs [3]string // admin, ws, tcp
	for i := range addrs {
		a, err := freeAddr("")
		if err != nil {
			return nil, "", "", err
		}
		addrs[i] = a
	}
	s := &flipdServer{proc: flipdProc{bin: bin, dir: dir, admin: addrs[0]}, label: label, ports: map[Mode]string{ModeWS: addrs[1]}}
	for i, version := range s.bodies() {
		s.configs[i] = wsFlipdConfig(addrs[0], filepath.Join(dir, "storage"), version, addrs[1], addrs[2], backend, drain, move)
	}
	return s, addrs[1], addrs[2], nil
}

// newWSNginx is nginx proxying the WebSockets (HTTP/1.1 with the Upgrade
// and Connection headers passed on) and, with its stream module, the TCP
// streams; upgraded as in the other modes. Its old workers keep their
// connections until worker_shutdown_timeout (drain), then close them.
// stream is the load_module line's path, or "" if nginx has the module
// built in.
func newWSNginx(bin, dir, stream string, backend EchoAddrs, drain time.Duration) (server, string, string, error) {
	s := &nginxServer{bin: bin, dir: dir, ports: map[Mode]string{}}
	for _, m := range []Mode{ModeWS, ModeConn} { // ModeConn stands for the TCP listener
		a, err := freeAddr("")
		if err != nil {
			return nil, "", "", err
		}
		s.ports[m] = a
	}
	s.custom = func(body string) string { return s.wsConfig(body, stream, backend, drain) }
	return s, s.ports[ModeWS], s.ports[ModeConn], nil
}

// wsConfig is nginx.conf for the ws mode.
func (s *nginxServer) wsConfig(body, stream string, backend EchoAddrs, drain time.Duration) string {
	var b strings.Builder
	if stream != "" {
		fmt.Fprintf(&b, "load_module %s;\n", stream)
	}
	// As in config: daemonized, so that USR2 is not ignored.
	fmt.Fprintf(&b, "daemon on;\nmaster_process on;\nworker_processes %d;\npid %s;\nerror_log %s warn;\n",
		nginxWorkers, s.pidPath(), filepath.Join(s.dir, "error.log"))
	fmt.Fprintf(&b, "worker_rlimit_nofile 20000;\nworker_shutdown_timeout %dms;\nevents { worker_connections 16384; }\n", drain.Milliseconds())
	b.WriteString("http {\n  access_log off;\n  default_type text/plain;\n")
	for _, p := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "  %s_temp_path %s;\n", p, filepath.Join(s.dir, "tmp", p))
	}
	b.WriteString("  map $http_upgrade $connection_upgrade { default upgrade; '' close; }\n")
	fmt.Fprintf(&b, "  server {\n    listen %s;\n    location = /version { return 200 %q; }\n", s.ports[ModeWS], body)
	fmt.Fprintf(&b, "    location / {\n      proxy_pass http://%s;\n      proxy_http_version 1.1;\n", backend.WS)
	b.WriteString("      proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection $connection_upgrade;\n")
	b.WriteString("      proxy_read_timeout 1h;\n      proxy_send_timeout 1h;\n    }\n  }\n}\n")
	fmt.Fprintf(&b, "stream {\n  server {\n    listen %s;\n    proxy_pass %s;\n    proxy_timeout 1h;\n  }\n}\n", s.ports[ModeConn], backend.TCP)
	return b.String()
}

// nginxStreamModule finds nginx's stream module: ok with path "" if it is
// built in, ok with the module's path if it is a dynamic module that is
// installed, not ok otherwise.
func nginxStreamModule(bin string) (path string, ok bool) {
	out, _ := exec.Command(bin, "-V").CombinedOutput()
	var dynamic, static bool
	dirs := []string{"/usr/lib/nginx/modules", "/usr/share/nginx/modules", "/etc/nginx/modules"}
	for _, f := range strings.Fields(string(out)) {
		switch {
		case f == "--with-stream":
			static = true
		case f == "--with-stream=dynamic":
			dynamic = true
		case strings.HasPrefix(f, "--modules-path="):
			dirs = append([]string{strings.TrimPrefix(f, "--modules-path=")}, dirs...)
		}
	}
	if static {
		return "", true
	}
	if !dynamic {
		return "", false
	}
	for _, d := range dirs {
		p := filepath.Join(d, "ngx_stream_module.so")
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}
