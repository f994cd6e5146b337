package bench

import "encoding/json"

// caddyPorts are the addresses of a Caddy peer: its admin API and one
// listener per kind of load.
type caddyPorts struct {
	Admin, Plain, TLS, H2C string
}

// caddyConfig is Caddy's JSON config serving body as a static response
// on three servers (plain HTTP/1.1, TLS with cert, h2c), on loopback,
// with its admin API at ports.Admin and nothing written outside storage:
// no automatic HTTPS, no persisted config. gracePeriod bounds how long
// the servers a /load replaces may finish their requests, as nginx's
// worker_shutdown_timeout does.
func caddyConfig(ports caddyPorts, cert certFiles, storage, body, gracePeriod string) string {
	routes := []any{map[string]any{"handle": []any{map[string]any{
		"handler":     "static_response",
		"status_code": 200,
		"headers":     map[string][]string{"Content-Type": {"text/plain"}},
		"body":        body,
	}}}}
	server := func(addr string, extra map[string]any) map[string]any {
		s := map[string]any{
			"listen":          []string{addr},
			"routes":          routes,
			"automatic_https": map[string]any{"disable": true},
		}
		for k, v := range extra {
			s[k] = v
		}
		return s
	}
	cfg := map[string]any{
		"admin":   map[string]any{"listen": ports.Admin, "config": map[string]any{"persist": false}},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"storage": map[string]any{"module": "file_system", "root": storage},
		"apps": map[string]any{
			"http": map[string]any{
				"grace_period": gracePeriod,
				"servers": map[string]any{
					"plain": server(ports.Plain, nil),
					"h2c":   server(ports.H2C, map[string]any{"protocols": []string{"h1", "h2c"}}),
					"tls": server(ports.TLS, map[string]any{
						"protocols":               []string{"h1", "h2"},
						"tls_connection_policies": []any{map[string]any{}},
					}),
				},
			},
			"tls": map[string]any{
				"certificates": map[string]any{"load_files": []any{map[string]any{
					"certificate": cert.Cert, "key": cert.Key}}},
			},
		},
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return string(b)
}
