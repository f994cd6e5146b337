package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// haproxyServer is HAProxy in master-worker mode, reloaded as its users
// do: USR2 to the master, which re-executes itself, reads the config
// again and starts a new worker; the new worker takes the listening
// sockets from the old one through the stats socket (expose-fd
// listeners), and the old worker stops accepting and finishes its
// connections (hard-stop-after at most).
type haproxyServer struct {
	bin, dir string
	ports    haproxyPorts
	cert     certFiles
	pem      string
	cmd      *exec.Cmd
	exited   chan struct{}
	loads    int
	worker   int // the serving worker
}

func newHAProxyServer(bin, dir string) (*haproxyServer, error) {
	s := &haproxyServer{bin: bin, dir: dir}
	for _, p := range []*string{&s.ports.Plain, &s.ports.TLS, &s.ports.H2C} {
		addr, err := freeAddr("")
		if err != nil {
			return nil, err
		}
		*p = addr
	}
	var err error
	if s.cert, err = writeCert(dir); err != nil {
		return nil, err
	}
	// HAProxy wants the certificate and its key in one file.
	var pem []byte
	for _, f := range []string{s.cert.Cert, s.cert.Key} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		pem = append(pem, b...)
	}
	s.pem = filepath.Join(dir, "haproxy.pem")
	return s, os.WriteFile(s.pem, pem, 0o600)
}

func (s *haproxyServer) name() string     { return "haproxy" }
func (s *haproxyServer) bodies() []string { return []string{"haproxy-a", "haproxy-b"} }
func (s *haproxyServer) ca() string       { return s.cert.PEM }

// oldLimit is none, as nginx's: the next reload waits until the old
// worker has exited. HAProxy 2.6 does not refuse an earlier one, but
// reloading every 250 ms while old workers finish their keep-alive
// connections, under load on two cores, made the re-executed master fail
// to take the sockets over ("Failed to get the sockets from the old
// process!") and exit, with its workers: every request refused after.
func (s *haproxyServer) oldLimit() int { return 0 }

func (s *haproxyServer) url(m Mode) string {
	return peerURL(m, s.ports.Plain, s.ports.TLS, s.ports.H2C)
}

func (s *haproxyServer) cfgPath() string { return filepath.Join(s.dir, "haproxy.cfg") }

func (s *haproxyServer) writeConfig(body string) error {
	cfg := haproxyConfig(s.ports, s.pem, filepath.Join(s.dir, "stats.sock"), body, noFile())
	return os.WriteFile(s.cfgPath(), []byte(cfg), 0o644)
}

func (s *haproxyServer) start() error {
	if err := s.writeConfig(s.bodies()[0]); err != nil {
		return err
	}
	out, err := os.Create(filepath.Join(s.dir, "haproxy.log"))
	if err != nil {
		return err
	}
	defer out.Close()
	// -W: master-worker, in the foreground; -S: the master CLI. The
	// absolute binary path: the master re-executes it on USR2.
	s.cmd = exec.Command(s.bin, "-W", "-S", filepath.Join(s.dir, "master.sock"), "-f", s.cfgPath())
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if s.exited, err = startManaged(s.cmd); err != nil {
		return fmt.Errorf("starting haproxy: %w", err)
	}
	if err := waitBody(s.url(ModeConn), s.bodies()[0], s.exited, 30*time.Second); err != nil {
		s.stop()
		return fmt.Errorf("haproxy did not start: %w: %s", err, tail(out.Name()))
	}
	for deadline := time.Now().Add(30 * time.Second); s.loaded() < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("haproxy's master did not say \"Loading success.\" within 30s: %s", tail(out.Name()))
		}
	}
	s.worker = s.newestWorker(nil)
	return nil
}

// loaded counts the master's "Loading success." lines in its log.
func (s *haproxyServer) loaded() int {
	b, _ := os.ReadFile(filepath.Join(s.dir, "haproxy.log"))
	return strings.Count(string(b), "Loading success.")
}

// waitReaped waits, at most limit, until the master has reaped its
// exited workers. The runs send the next USR2 as soon as the old worker
// has exited; one sent before the master has dealt with that exit was
// sometimes ignored (HAProxy 2.6.12, tls and h2 modes).
func (s *haproxyServer) waitReaped(limit time.Duration) {
	master := s.cmd.Process.Pid
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		zombie := false
		for _, p := range descendants(master) {
			zombie = zombie || (p.PPid == master && p.State == 'Z')
		}
		if !zombie {
			return
		}
	}
}

// workers lists the master's live workers.
func (s *haproxyServer) workers() []int {
	var out []int
	master := s.cmd.Process.Pid
	for _, p := range descendants(master) {
		if p.PPid == master && p.State != 'Z' {
			out = append(out, p.Pid)
		}
	}
	return out
}

// newestWorker is the highest-numbered worker not in old, or 0.
func (s *haproxyServer) newestWorker(old []int) int {
	pid := 0
	for _, w := range s.workers() {
		if !slices.Contains(old, w) {
			pid = max(pid, w)
		}
	}
	return pid
}

// upgrade writes the config with the other body and sends USR2 to the
// master; ready when a new connection gets the new body from a new
// worker.
func (s *haproxyServer) upgrade(int) Upgrade {
	s.loads++
	u := Upgrade{How: "USR2 to the master", OldPid: s.worker}
	body := s.bodies()[s.loads%2]
	if err := s.writeConfig(body); err != nil {
		u.Err = err.Error()
		return u
	}
	s.waitReaped(5 * time.Second)
	before, loaded := s.workers(), s.loaded()
	u.At = time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		u.Err = "USR2: " + err.Error()
		return u
	}
	// The master says "Loading success." from its loop once the new
	// worker is ready: only then does it take the next USR2. A new
	// worker answering is not enough: a USR2 sent to the master still
	// starting up after its re-execution is lost.
	// 10 s, not more: a reload takes a few hundred milliseconds, and
	// HAProxy 2.6.12 sometimes does nothing on a USR2 (seen in the tls
	// and h2 modes here, right after the old worker's exit).
	for deadline := time.Now().Add(10 * time.Second); s.loaded() <= loaded; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			u.Err = "the master did not say \"Loading success.\" within 10s of USR2 (the reload did not happen): " +
				tail(filepath.Join(s.dir, "haproxy.log"))
			return u
		}
	}
	if err := waitBody(s.url(ModeConn), body, s.exited, 30*time.Second); err != nil {
		u.Err = fmt.Sprintf("no new worker serving after USR2: %v: %s", err, tail(filepath.Join(s.dir, "haproxy.log")))
		return u
	}
	u.Ready = time.Since(u.At)
	u.NewPid = s.newestWorker(before)
	if u.NewPid == 0 {
		u.Err = "the new config is served, but by no new worker"
		return u
	}
	s.worker = u.NewPid
	return u
}

// stop sends SIGTERM to the master (its workers stop at once), kills it
// if it has not exited within 15 s, and then any HAProxy process left
// below the bench.
func (s *haproxyServer) stop() {
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
	for _, p := range descendants(os.Getpid()) {
		if p.Comm == "haproxy" && p.State != 'Z' {
			syscall.Kill(p.Pid, syscall.SIGKILL)
			waitExited(p.Pid, 5*time.Second)
		}
	}
}

// role: the master never serves, as flipd's supervisor; the workers are
// the generations.
func (s *haproxyServer) role(p proc, all procTree) role {
	if s.cmd == nil || s.cmd.Process == nil || p.Comm != "haproxy" {
		return roleNone
	}
	if p.Pid == s.cmd.Process.Pid {
		return roleSupervisor
	}
	if all.isBelow(p, s.cmd.Process.Pid) {
		return roleGeneration
	}
	return roleNone
}

// haproxyVersion is the version "haproxy -v" names: "2.6.12-1+deb12u4".
func haproxyVersion(bin string) string {
	out, _ := exec.Command(bin, "-v").Output()
	first, _, _ := strings.Cut(string(out), "\n")
	if f := strings.Fields(first); len(f) >= 3 {
		return f[2]
	}
	return "unknown"
}

// noFile is this process's open-file limit, which HAProxy inherits.
func noFile() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1024
	}
	return int(min(lim.Cur, 1<<20))
}

// maxConns is how many connections HAProxy takes at once: maxconn, less
// a margin for the load generator's own.
func (s *haproxyServer) maxConns() int { return haproxyMaxConn(noFile()) - 50 }
