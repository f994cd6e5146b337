package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nginxServer is nginx doing its binary upgrade: USR2 starts a new master
// from the binary on disk with the listening sockets, WINCH stops the old
// master's workers gracefully, QUIT ends the old master.
type nginxServer struct {
	bin, dir string
	ports    map[Mode]string
	cert     certFiles
	cmd      *exec.Cmd
	exited   chan struct{}
	loads    int
	// custom, if set, writes nginx.conf instead of config (the ws
	// mode's proxies).
	custom func(body string) string
}

// nginxWorkers is worker_processes: one per core here.
const nginxWorkers = 2

func newNginxServer(bin, dir string) (*nginxServer, error) {
	s := &nginxServer{bin: bin, dir: dir, ports: map[Mode]string{}}
	for _, m := range []Mode{ModeConn, ModeTLS, ModeH2} {
		addr, err := freeAddr("")
		if err != nil {
			return nil, err
		}
		s.ports[m] = addr
	}
	s.ports[ModeKeepAlive], s.ports[ModeTLSConn] = s.ports[ModeConn], s.ports[ModeTLS]
	var err error
	s.cert, err = writeCert(dir)
	return s, err
}

func (s *nginxServer) name() string     { return "nginx" }
func (s *nginxServer) bodies() []string { return []string{"nginx-a", "nginx-b"} }
func (s *nginxServer) ca() string       { return s.cert.PEM }
func (s *nginxServer) pidPath() string  { return filepath.Join(s.dir, "nginx.pid") }

func (s *nginxServer) url(m Mode) string {
	if m.tls() {
		return "https://" + s.ports[m] + "/"
	}
	return "http://" + s.ports[m] + "/"
}

// config is nginx.conf serving body: everything under the bench's
// directory, in the foreground, on loopback.
func (s *nginxServer) config(body string) string {
	if s.custom != nil {
		return s.custom(body)
	}
	loc := fmt.Sprintf("location / { return 200 %q; }", body)
	var b strings.Builder
	// Daemonized: a master in the foreground ignores USR2 while the
	// process that started it lives ("the changing binary signal is
	// ignored"), since it cannot tell that parent from an old master.
	fmt.Fprintf(&b, "daemon on;\nmaster_process on;\nworker_processes %d;\npid %s;\nerror_log %s warn;\n",
		nginxWorkers, s.pidPath(), filepath.Join(s.dir, "error.log"))
	// worker_shutdown_timeout bounds how long an old worker may wait for
	// its connections' clients (HTTP/2 ones may idle), so that the next
	// upgrade, refused while the old master lives, is not held up.
	b.WriteString("worker_rlimit_nofile 20000;\nworker_shutdown_timeout 10s;\nevents { worker_connections 16384; }\nhttp {\n  access_log off;\n  default_type text/plain;\n")
	for _, p := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "  %s_temp_path %s;\n", p, filepath.Join(s.dir, "tmp", p))
	}
	fmt.Fprintf(&b, "  server { listen %s; %s }\n", s.ports[ModeConn], loc)
	fmt.Fprintf(&b, "  server { listen %s http2; %s }\n", s.ports[ModeH2], loc)
	fmt.Fprintf(&b, "  server { listen %s ssl; ssl_certificate %s; ssl_certificate_key %s; ssl_session_cache off; ssl_session_tickets off; %s }\n",
		s.ports[ModeTLS], s.cert.Cert, s.cert.Key, loc)
	b.WriteString("}\n")
	return b.String()
}

func (s *nginxServer) writeConfig(body string) error {
	return os.WriteFile(filepath.Join(s.dir, "nginx.conf"), []byte(s.config(body)), 0o644)
}

func (s *nginxServer) start() error {
	if err := os.MkdirAll(filepath.Join(s.dir, "tmp"), 0o755); err != nil {
		return err
	}
	if err := s.writeConfig(s.bodies()[0]); err != nil {
		return err
	}
	// The absolute path: USR2 re-executes argv[0].
	cmd := exec.Command(s.bin, "-p", s.dir, "-c", filepath.Join(s.dir, "nginx.conf"), "-e", filepath.Join(s.dir, "error.log"))
	os.Remove(s.pidPath())
	// The foreground process exits once the daemon has forked: the
	// master is then an orphan handed to this process (a subreaper).
	// A file, not a pipe that the daemon might keep open.
	out, err := os.Create(filepath.Join(s.dir, "nginx.out"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	exited, err := startManaged(cmd)
	if err != nil {
		return fmt.Errorf("starting nginx: %w", err)
	}
	<-exited
	if !cmd.ProcessState.Success() {
		b, _ := os.ReadFile(out.Name())
		return fmt.Errorf("starting nginx: %s: %s %s", cmd.ProcessState, b, s.errorLog())
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.masterPid() == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("nginx wrote no pid file within 30s: %s", s.errorLog())
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.waitServing(s.masterPid(), 30*time.Second); err != nil {
		return fmt.Errorf("nginx did not start: %w: %s", err, s.errorLog())
	}
	return nil
}

// masterPid is what the pid file says, or 0.
func (s *nginxServer) masterPid() int {
	b, _ := os.ReadFile(s.pidPath())
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// waitServing waits until master has written the pid file and started
// all its workers.
func (s *nginxServer) waitServing(master int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if s.masterPid() == master && s.workers(master) >= nginxWorkers {
			return nil
		}
		if exited(master) {
			return fmt.Errorf("master %d exited", master)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("master %d not serving within %v", master, limit)
		}
		time.Sleep(time.Millisecond)
	}
}

// workers counts master's live worker processes.
func (s *nginxServer) workers(master int) int {
	n := 0
	for _, p := range descendants(master) {
		if p.PPid == master && p.State != 'Z' && strings.HasPrefix(cmdline(p.Pid), "nginx: worker") {
			n++
		}
	}
	return n
}

func (s *nginxServer) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// upgrade is the binary upgrade with the other body in nginx.conf, which
// the new master reads.
func (s *nginxServer) upgrade(int) Upgrade {
	s.loads++
	old := s.masterPid()
	u := Upgrade{How: "USR2, WINCH, QUIT", At: time.Now(), OldPid: old}
	if err := s.writeConfig(s.bodies()[s.loads%2]); err != nil {
		u.Err = err.Error()
		return u
	}
	u.At = time.Now()
	syscall.Kill(old, syscall.SIGUSR2)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pid := s.masterPid(); pid != 0 && pid != old {
			u.NewPid = pid
			break
		}
		if time.Now().After(deadline) {
			u.Err = "no new master within 30s of USR2: " + s.errorLog()
			return u
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.waitServing(u.NewPid, 30*time.Second); err != nil {
		u.Err = err.Error()
		return u
	}
	u.Ready = time.Since(u.At)
	syscall.Kill(old, syscall.SIGWINCH)
	syscall.Kill(old, syscall.SIGQUIT)
	return u
}

func (s *nginxServer) stop() {
	if pid := s.masterPid(); pid > 0 {
		syscall.Kill(pid, syscall.SIGQUIT)
		waitExited(pid, 35*time.Second)
	}
	for _, p := range descendants(os.Getpid()) {
		if p.Comm == "nginx" && p.State != 'Z' {
			syscall.Kill(p.Pid, syscall.SIGKILL)
			waitExited(p.Pid, 5*time.Second)
		}
	}
}

// oldLimit is none: a new master ignores USR2 while the old one lives
// ("the changing binary signal is ignored").
func (s *nginxServer) oldLimit() int { return 0 }

func (s *nginxServer) role(p proc, _ procTree) role {
	switch {
	case p.Comm != "nginx":
		return roleNone
	case strings.HasPrefix(cmdline(p.Pid), "nginx: master"):
		return roleGeneration
	}
	return roleWorker
}

// nginxVersion is what "nginx -v" says.
func nginxVersion(bin string) string {
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: "))
}
