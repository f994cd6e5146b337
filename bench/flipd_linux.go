package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// listener is one listener of a generated flipd config.
type listener struct {
	Name, Addr string
	TLS        *certFiles // wrap in the "tls" module
	H2C        bool
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

// flipdProc is one flipd daemon, started with "flipd run", and every
// generation it forks.
type flipdProc struct {
	bin, dir, admin string
	cmd             *exec.Cmd
	exited          chan struct{}
}

func (f *flipdProc) configPath() string { return filepath.Join(f.dir, "flipd.json") }
func (f *flipdProc) pidPath() string    { return filepath.Join(f.dir, "flipd.pid") }

// start runs flipd on config and returns once its first generation
// serves (it writes the pid file once it is ready).
func (f *flipdProc) start(config string) error {
	if err := os.WriteFile(f.configPath(), []byte(config), 0o644); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(f.dir, "flipd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	os.Remove(f.pidPath())
	f.cmd = exec.Command(f.bin, "run", "--config", f.configPath(), "--pidfile", f.pidPath())
	f.cmd.Stdout, f.cmd.Stderr = logf, logf
	f.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(f.dir, "data"))
	cmd := f.cmd
	exited, err := startManaged(cmd)
	if err != nil {
		return fmt.Errorf("starting flipd: %w", err)
	}
	f.exited = exited
	deadline := time.Now().Add(30 * time.Second)
	for f.pid() != cmd.Process.Pid {
		select {
		case <-exited:
			return fmt.Errorf("flipd exited at start: %s", f.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("flipd did not write its pid file within 30s: %s", f.logTail())
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// pid is the serving generation's pid, from the pid file, or 0.
func (f *flipdProc) pid() int {
	b, _ := os.ReadFile(f.pidPath())
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (f *flipdProc) logTail() string {
	b, _ := os.ReadFile(filepath.Join(f.dir, "flipd.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// loadAnswer is what POST /load and POST /upgrade answer.
type loadAnswer struct {
	Generation int    `json:"generation"`
	Pid        int    `json:"pid"`
	Duration   string `json:"duration"`
	Draining   struct {
		Pid int `json:"pid"`
	} `json:"draining"`
	Error string `json:"error"`
}

// adminClient opens a connection per request, as flipd's CLI does.
var adminClient = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// post sends body to the admin API's path and returns its answer.
func (f *flipdProc) post(path, body string) (loadAnswer, error) {
	resp, err := adminClient.Post("http://"+f.admin+path, "application/json", strings.NewReader(body))
	if err != nil {
		return loadAnswer{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a loadAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, fmt.Errorf("POST %s: %s: %.200s", path, resp.Status, raw)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusConflict:
		return a, fmt.Errorf("POST %s: %w Conflict: %s", path, errConflict, a.Error)
	default:
		return a, fmt.Errorf("POST %s: %s: %s", path, resp.Status, a.Error)
	}
	return a, nil
}

// reload does one upgrade through the admin API: POST /load with config,
// or POST /upgrade if config is empty. A 409 is tried again, 100 times at
// most, and counted: under a saturated CPU, the generation that has just
// handed over may still accept on the admin socket and answer "already
// handed over".
func (f *flipdProc) reload(config string) Upgrade {
	u := Upgrade{At: time.Now(), OldPid: f.pid()}
	var a loadAnswer
	var err error
	for try := 0; try < 100; try++ {
		if config == "" {
			a, err = f.post("/upgrade", "{}")
		} else {
			a, err = f.post("/load", config)
		}
		if err == nil || !errors.Is(err, errConflict) {
			break
		}
		u.Conflicts++
		time.Sleep(10 * time.Millisecond)
	}
	u.Ready = time.Since(u.At)
	if err != nil {
		u.Err = err.Error()
		return u
	}
	u.NewPid, u.OldPid = a.Pid, a.Draining.Pid
	if d, err := time.ParseDuration(a.Duration); err == nil {
		u.Reported = d
	}
	return u
}

// errConflict marks a 409 from the admin API.
var errConflict = errors.New("409")

// restart is the naive upgrade: SIGTERM, wait for the exit, start again.
func (f *flipdProc) restart(config string) Upgrade {
	u := Upgrade{At: time.Now(), OldPid: f.cmd.Process.Pid}
	f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.exited:
		u.Exited = time.Since(u.At)
	case <-time.After(60 * time.Second):
		u.Err = "flipd did not stop within 60s of SIGTERM"
		return u
	}
	if err := f.start(config); err != nil {
		u.Err = err.Error()
		return u
	}
	u.Ready, u.NewPid = time.Since(u.At), f.cmd.Process.Pid
	return u
}

// stop ends every generation: SIGTERM to the serving one, then SIGKILL to
// any flipd left below this process once grace has passed.
func (f *flipdProc) stop(grace time.Duration) {
	if pid := f.pid(); pid > 0 {
		syscall.Kill(pid, syscall.SIGTERM)
		waitExited(pid, grace)
	}
	for _, p := range descendants(os.Getpid()) {
		if p.Comm == commOf(f.bin) && p.State != 'Z' {
			syscall.Kill(p.Pid, syscall.SIGKILL)
			waitExited(p.Pid, 5*time.Second)
		}
	}
}

// flipdServer is flipd under load, upgraded through its admin API, or
// restarted naively.
type flipdServer struct {
	proc    flipdProc
	naive   bool
	configs [2]string
	ports   map[Mode]string
	caPEM   string
	loads   int // POST /loads so far, to alternate the configs
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
	if m.tls() {
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

func (s *flipdServer) ours(p proc) (counted, generation bool) {
	is := p.Comm == commOf(s.proc.bin)
	return is, is
}

// commOf is how /proc names a process running bin: its base name, cut
// to 15 bytes.
func commOf(bin string) string {
	base := filepath.Base(bin)
	return base[:min(len(base), 15)]
}
