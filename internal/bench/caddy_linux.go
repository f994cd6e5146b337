package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// caddyServer is Caddy reloaded as its users do: the config changed
// through its admin API, POST /load, which Caddy applies in-process (it
// starts the new servers on the listeners it keeps, then stops the old
// ones gracefully). It cannot change its binary this way.
type caddyServer struct {
	bin, dir string
	ports    caddyPorts
	cert     certFiles
	cmd      *exec.Cmd
	exited   chan struct{}
	loads    int
}

// caddyGrace is the old servers' grace_period, like nginx's
// worker_shutdown_timeout.
const caddyGrace = "10s"

func newCaddyServer(bin, dir string) (*caddyServer, error) {
	s := &caddyServer{bin: bin, dir: dir}
	for _, p := range []*string{&s.ports.Admin, &s.ports.Plain, &s.ports.TLS, &s.ports.H2C} {
		addr, err := freeAddr("")
		if err != nil {
			return nil, err
		}
		*p = addr
	}
	var err error
	s.cert, err = writeCert(dir)
	return s, err
}

func (s *caddyServer) name() string     { return "caddy" }
func (s *caddyServer) bodies() []string { return []string{"caddy-a", "caddy-b"} }
func (s *caddyServer) ca() string       { return s.cert.PEM }
func (s *caddyServer) oldLimit() int    { return 0 }

func (s *caddyServer) url(m Mode) string {
	return peerURL(m, s.ports.Plain, s.ports.TLS, s.ports.H2C)
}

func (s *caddyServer) config(body string) string {
	return caddyConfig(s.ports, s.cert, filepath.Join(s.dir, "storage"), body, caddyGrace)
}

func (s *caddyServer) start() error {
	path := filepath.Join(s.dir, "caddy.json")
	if err := os.WriteFile(path, []byte(s.config(s.bodies()[0])), 0o644); err != nil {
		return err
	}
	out, err := os.Create(filepath.Join(s.dir, "caddy.log"))
	if err != nil {
		return err
	}
	defer out.Close()
	s.cmd = exec.Command(s.bin, "run", "--config", path)
	// Everything Caddy writes stays in the bench's directory.
	s.cmd.Env = append(os.Environ(), "HOME="+s.dir, "XDG_DATA_HOME="+filepath.Join(s.dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(s.dir, "config"))
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if s.exited, err = startManaged(s.cmd); err != nil {
		return fmt.Errorf("starting caddy: %w", err)
	}
	if err := waitBody(s.url(ModeConn), s.bodies()[0], s.exited, 30*time.Second); err != nil {
		s.stop()
		return fmt.Errorf("caddy did not start: %w: %s", err, tail(out.Name()))
	}
	return nil
}

// upgrade posts the config with the other body to /load; Caddy answers
// once the new servers run.
func (s *caddyServer) upgrade(int) Upgrade {
	s.loads++
	pid := s.cmd.Process.Pid
	u := Upgrade{How: "POST /load (in-process)", NewPid: pid}
	body := s.config(s.bodies()[s.loads%2])
	u.At = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.ports.Admin+"/load", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		u.Err = "POST /load: " + err.Error()
		return u
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	u.Ready = time.Since(u.At)
	if resp.StatusCode != http.StatusOK {
		u.Err = fmt.Sprintf("POST /load: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return u
}

// stop asks Caddy to stop (SIGTERM: graceful) and kills it if it has not
// within 15 s.
func (s *caddyServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *caddyServer) role(p proc, _ procTree) role {
	if s.cmd != nil && s.cmd.Process != nil && p.Pid == s.cmd.Process.Pid {
		return roleGeneration
	}
	return roleNone
}

// caddyVersion is Caddy's module version, "v2.11.9": "caddy version"
// says "unknown" when Caddy is the main module (go install
// .../cmd/caddy@v2.11.9), so it is read from "caddy build-info".
func caddyVersion(bin string) string {
	out, _ := exec.Command(bin, "version").Output()
	if f := strings.Fields(string(out)); len(f) > 0 && f[0] != "unknown" {
		return f[0]
	}
	out, _ = exec.Command(bin, "build-info").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "mod" && f[1] == caddyModule {
			return f[2]
		}
	}
	return "unknown"
}

// waitBody waits until url answers body on a new connection, or exited
// is closed, or limit has passed. A new connection each time: a kept one
// would stay with the old worker, which may answer on it while the new
// one already accepts.
func waitBody(url, body string, exited <-chan struct{}, limit time.Duration) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(limit)
	for {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(b) == body {
				return nil
			}
			err = fmt.Errorf("%s answered %s %q", url, resp.Status, b)
		}
		select {
		case <-exited:
			return fmt.Errorf("it exited")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not serving within %v: %v", limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail is the end of a log file.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}
