package bench

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCaddyConfigServesTheBodyOnThreeLoopbackServers decodes the JSON
// given to Caddy and checks what the runs rely on: the admin API where
// the bench posts /load, no config persisted, a static response of the
// body on the plain, TLS and h2c servers, the bench's certificate, no
// automatic HTTPS, and the grace period.
func TestCaddyConfigServesTheBodyOnThreeLoopbackServers(t *testing.T) {
	ports := caddyPorts{Admin: "127.0.0.1:2019", Plain: "127.0.0.1:8001", TLS: "127.0.0.1:8002", H2C: "127.0.0.1:8003"}
	cert := certFiles{Cert: "/d/cert.pem", Key: "/d/key.pem"}
	var cfg struct {
		Admin struct {
			Listen string
			Config struct{ Persist *bool }
		}
		Storage struct{ Module, Root string }
		Apps    struct {
			HTTP struct {
				GracePeriod string `json:"grace_period"`
				Servers     map[string]struct {
					Listen         []string
					Protocols      []string
					AutomaticHTTPS struct{ Disable bool } `json:"automatic_https"`
					TLSPolicies    []map[string]any       `json:"tls_connection_policies"`
					Routes         []struct {
						Handle []struct {
							Handler    string
							StatusCode int `json:"status_code"`
							Body       string
						}
					}
				}
			}
			TLS struct {
				Certificates struct {
					LoadFiles []struct{ Certificate, Key string } `json:"load_files"`
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(caddyConfig(ports, cert, "/d/storage", "caddy-b", "10s")), &cfg); err != nil {
		t.Fatalf("the Caddy config is not JSON: %v", err)
	}
	if cfg.Admin.Listen != ports.Admin || cfg.Admin.Config.Persist == nil || *cfg.Admin.Config.Persist {
		t.Errorf("admin %+v: want listen %s and persist false", cfg.Admin, ports.Admin)
	}
	if cfg.Storage.Root != "/d/storage" {
		t.Errorf("storage %+v: want the bench's directory", cfg.Storage)
	}
	if cfg.Apps.HTTP.GracePeriod != "10s" {
		t.Errorf("grace_period %q, want 10s", cfg.Apps.HTTP.GracePeriod)
	}
	want := map[string]string{"plain": ports.Plain, "tls": ports.TLS, "h2c": ports.H2C}
	if len(cfg.Apps.HTTP.Servers) != len(want) {
		t.Errorf("%d servers, want %d", len(cfg.Apps.HTTP.Servers), len(want))
	}
	for name, addr := range want {
		s, ok := cfg.Apps.HTTP.Servers[name]
		if !ok {
			t.Errorf("no server %q", name)
			continue
		}
		if len(s.Listen) != 1 || s.Listen[0] != addr {
			t.Errorf("server %s listens on %v, want %s", name, s.Listen, addr)
		}
		if !s.AutomaticHTTPS.Disable {
			t.Errorf("server %s: automatic HTTPS not disabled", name)
		}
		if len(s.Routes) != 1 || len(s.Routes[0].Handle) != 1 {
			t.Fatalf("server %s: routes %+v, want one static response", name, s.Routes)
		}
		h := s.Routes[0].Handle[0]
		if h.Handler != "static_response" || h.StatusCode != 200 || h.Body != "caddy-b" {
			t.Errorf("server %s handles with %+v, want static_response 200 caddy-b", name, h)
		}
		if (name == "tls") != (len(s.TLSPolicies) == 1) {
			t.Errorf("server %s: %d TLS connection policies", name, len(s.TLSPolicies))
		}
	}
	if p := cfg.Apps.HTTP.Servers["h2c"].Protocols; strings.Join(p, ",") != "h1,h2c" {
		t.Errorf("the h2c server speaks %v, want h1 and h2c", p)
	}
	if lf := cfg.Apps.TLS.Certificates.LoadFiles; len(lf) != 1 || lf[0].Certificate != cert.Cert || lf[0].Key != cert.Key {
		t.Errorf("certificates %+v, want the bench's", lf)
	}
}

// TestHAProxyConfigIsMasterWorkerWithExposedListeners checks the lines of
// haproxy.cfg that the reload depends on, and, where haproxy is
// installed, that haproxy -c accepts the file.
func TestHAProxyConfigIsMasterWorkerWithExposedListeners(t *testing.T) {
	dir := t.TempDir()
	ports := haproxyPorts{Plain: "127.0.0.1:8001", TLS: "127.0.0.1:8002", H2C: "127.0.0.1:8003"}
	pem := filepath.Join(dir, "haproxy.pem")
	cfg := haproxyConfig(ports, pem, filepath.Join(dir, "stats.sock"), `say "hi"`, 20000)
	for _, line := range []string{
		"  master-worker\n",
		"  ulimit-n 20000\n  maxconn 9950\n",
		"  stats socket " + filepath.Join(dir, "stats.sock") + " mode 600 level admin expose-fd listeners\n",
		"  hard-stop-after 10s\n",
		"  bind 127.0.0.1:8001\n",
		"  bind 127.0.0.1:8003 proto h2\n",
		"  bind 127.0.0.1:8002 ssl crt " + pem + " alpn http/1.1 no-tls-tickets\n",
		`  http-request return status 200 content-type text/plain string "say \"hi\""` + "\n",
	} {
		if !strings.Contains(cfg, line) {
			t.Errorf("haproxy.cfg lacks %q:\n%s", line, cfg)
		}
	}
	if n := strings.Count(cfg, "http-request return"); n != 3 {
		t.Errorf("%d frontends answer, want 3", n)
	}
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/haproxy"); err != nil {
			t.Log("haproxy is not installed, so haproxy -c is not run (apt-get install haproxy)")
			return
		}
		bin = "/usr/sbin/haproxy"
	}
	c, err := writeCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	var both []byte
	for _, f := range []string{c.Cert, c.Key} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		both = append(both, b...)
	}
	if err := os.WriteFile(pem, both, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Errorf("haproxy -c rejects the config: %v\n%s\n%s", err, out, cfg)
	}
}

// TestVersionPartsOrdersCaddyReleases checks the order in which the
// newest cached Caddy is picked: by number, not by text.
func TestVersionPartsOrdersCaddyReleases(t *testing.T) {
	if slices.Compare(versionParts("v2.11.9"), versionParts("v2.9.1")) <= 0 {
		t.Error("v2.11.9 does not come after v2.9.1")
	}
	if slices.Compare(versionParts("v2.11.9-beta.1"), versionParts("v2.11.9")) != 0 {
		t.Error("a pre-release does not count as its release")
	}
}
