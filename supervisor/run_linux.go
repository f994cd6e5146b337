package supervisor

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// forwarded are the signals passed on to the serving generation.
var forwarded = []os.Signal{syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2}

// prunePeriod is how often generations that are not our children (a new
// generation whose parent still drains) are checked for having gone: their
// parent reaps them, and no SIGCHLD tells us. Only while there are two or
// more: a lone generation is our child (the first, or one whose parent
// exited, since we are a child subreaper), and SIGCHLD tells of its exit;
// an idle supervisor, PID 1 in a container, then never wakes by itself.
const prunePeriod = 200 * time.Millisecond

// supervisor is the state of Run; only its loop goroutine touches it.
type supervisor struct {
	log      hclog.Logger
	self     int
	serving  int          // the generation signals go to
	gens     map[int]bool // generations not yet gone
	code     int          // the serving generation's exit status, once gone
	known    bool         // code is known (we reaped it)
	gone     bool         // the serving generation is gone
	ready    bool         // some generation said READY=1
	reload   bool         // RELOADING=1 seen, READY=1 not yet
	stopSig  os.Signal    // the stop forwarded, if any
	held     []os.Signal  // SIGHUP, SIGUSR1, SIGUSR2 before the first READY=1
	upstream bool         // our own NOTIFY_SOCKET is set
	procOK   bool         // /proc shows our PID namespace
	pidFile  string       // to write at the first READY=1 (PIDFileWhenReady)
}

func run(opts Options) (int, error) {
	log := opts.logger()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 1, fmt.Errorf("supervisor: becoming a child subreaper: %w", err)
	}
	// Caught before the child exists, so that no signal and no exit is
	// missed; the buffer outlasts any burst the loop cannot drain at once
	// (the runtime also keeps one pending signal of each kind).
	sigC := make(chan os.Signal, 64)
	signal.Notify(sigC, append(slices.Clone(forwarded), syscall.SIGCHLD)...)
	defer signal.Stop(sigC)

	ns, err := listenNotify()
	if err != nil {
		return 1, err
	}
	defer ns.close()
	self := os.Getpid()
	if opts.PIDFile != "" {
		if !opts.PIDFileWhenReady {
			if err := writePIDFile(opts.PIDFile, self); err != nil {
				return 1, err
			}
		}
		defer removePIDFile(opts.PIDFile, self)
	}
	pid, err := start(opts, ns.path)
	if err != nil {
		return 1, err
	}
	log.Info("started generation 1", "child_pid", pid, "command", strings.Join(opts.Args, " "), "notify_socket", ns.path)

	s := &supervisor{log: log, self: self, serving: pid, gens: map[int]bool{pid: true},
		upstream: os.Getenv("NOTIFY_SOCKET") != "", procOK: procIsOurs(self)}
	if opts.PIDFileWhenReady {
		s.pidFile = opts.PIDFile
	}
	if !s.procOK {
		log.Warn("/proc is not of this PID namespace (mount one, e.g. unshare --mount-proc): notifications are accepted from any live process that can reach the notify socket, not only from descendants")
	}
	return s.loop(sigC, ns), nil
}

// start starts generation 1 in a process group of its own, so that a
// terminal's Ctrl-C reaches the supervisor only, which forwards it once.
func start(opts Options, notifyPath string) (int, error) {
	path, err := exec.LookPath(opts.Args[0])
	if err != nil {
		return 0, fmt.Errorf("supervisor: starting %s: %w", opts.Args[0], err)
	}
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	proc, err := os.StartProcess(path, opts.Args, &os.ProcAttr{
		Env:   childEnv(env, notifyPath, os.Getpid()),
		Files: []*os.File{orStd(opts.Stdin, os.Stdin), orStd(opts.Stdout, os.Stdout), orStd(opts.Stderr, os.Stderr)},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return 0, fmt.Errorf("supervisor: starting %s: %w", path, err)
	}
	pid := proc.Pid
	proc.Release() // reaped by wait4(-1) with every other child
	return pid, nil
}

// loop handles signals, notifications and exits until every generation
// is gone. Before it acts on anything it reads every notification already
// queued: a new generation says MAINPID= before it tells its parent it is
// ready, so a signal or an exit that comes after a handover is never
// handled as if the old generation still served.
func (s *supervisor) loop(sigC <-chan os.Signal, ns *notifySocket) int {
	tick := time.NewTimer(prunePeriod)
	tick.Stop() // armed while two or more generations run
	defer tick.Stop()
	polling := false
	wake, drained, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	defer close(done)
	go ns.waitReadable(wake, drained, done)
	for {
		var poll <-chan time.Time
		switch {
		case len(s.gens) > 1:
			if !polling {
				tick.Reset(prunePeriod)
				polling = true
			}
			poll = tick.C
		case polling:
			tick.Stop()
			polling = false
		}
		var sig os.Signal
		select {
		case sig = <-sigC:
		case <-wake:
			s.readNotifications(ns)
			drained <- struct{}{}
			continue
		case <-poll:
			polling = false
		}
		s.readNotifications(ns)
		if sig != nil && sig != syscall.SIGCHLD {
			s.signal(sig)
			continue
		}
		s.reap()
		s.readNotifications(ns)
		s.prune()
		if len(s.gens) == 0 {
			return s.finish()
		}
	}
}

func (s *supervisor) readNotifications(ns *notifySocket) {
	for _, m := range ns.drain(s.log) {
		s.notify(m)
	}
}

// reap reaps every child that exited, generations and orphans alike.
func (s *supervisor) reap() {
	for _, e := range reapAll() {
		if !s.gens[e.pid] {
			s.log.Debug("reaped a process that is not a generation", "child_pid", e.pid, "status", e.code)
			continue
		}
		delete(s.gens, e.pid)
		s.log.Info("generation exited", "child_pid", e.pid, "status", e.code, "serving", e.pid == s.serving)
		if e.pid == s.serving {
			s.gone, s.known, s.code = true, true, e.code
		}
	}
}

// prune forgets generations that were reaped by their parent generation.
func (s *supervisor) prune() {
	for pid := range s.gens {
		if alive(pid) {
			continue
		}
		delete(s.gens, pid)
		s.log.Info("generation exited; reaped by its parent generation", "child_pid", pid, "serving", pid == s.serving)
		if pid == s.serving {
			s.gone, s.known = true, false
		}
	}
}

// finish is the supervisor's exit status, once every generation is gone.
func (s *supervisor) finish() int {
	code := s.code
	if !s.known {
		code = 1
		if s.stopSig != nil {
			code = 0
		}
		s.log.Warn("the serving generation's exit status is unknown: its parent generation reaped it", "status", code)
	}
	if len(s.held) > 0 {
		s.log.Warn("signals held until READY=1 were never delivered", "signals", fmt.Sprint(s.held))
	}
	if left := childrenOf(s.self); s.procOK && len(left) > 0 {
		s.log.Warn("leaving processes that are not generations", "pids", fmt.Sprint(left))
	}
	s.log.Info("every generation is gone; exiting", "status", code)
	return code
}

// signal forwards sig as the package documentation says.
func (s *supervisor) signal(sig os.Signal) {
	stop := sig == syscall.SIGTERM || sig == syscall.SIGINT
	if stop {
		s.stopSig = sig
		s.upstreamNotify("STOPPING=1")
	}
	switch {
	case !stop && !s.ready:
		if !slices.Contains(s.held, sig) {
			s.held = append(s.held, sig)
		}
		s.log.Info("holding signal until the generation is ready", "signal", sig.String(), "child_pid", s.serving)
	case !s.gone:
		if sig == syscall.SIGHUP && s.reload {
			s.log.Info("forwarding SIGHUP during a reload; the serving generation decides", "child_pid", s.serving)
		}
		s.send(s.serving, sig)
	case stop:
		for pid := range s.gens {
			s.send(pid, sig)
		}
	default:
		s.log.Warn("no generation serves; signal not forwarded", "signal", sig.String())
	}
}

func (s *supervisor) send(pid int, sig os.Signal) {
	if err := unix.Kill(pid, sig.(syscall.Signal)); err != nil {
		s.log.Warn("forwarding signal failed", "signal", sig.String(), "child_pid", pid, "error", err)
		return
	}
	s.log.Info("forwarded signal", "signal", sig.String(), "child_pid", pid)
}

// notify handles one notification from the generations and passes it on.
func (s *supervisor) notify(m notification) {
	if !s.descendant(m.sender) {
		s.log.Warn("notification from a process that is not a generation dropped", "sender_pid", m.sender, "message", strings.Join(m.fields, " "))
		return
	}
	var up []string
	for _, f := range m.fields {
		key, val, _ := strings.Cut(f, "=")
		switch {
		case key == "MAINPID":
			if !s.mainPid(val, m.sender) {
				continue
			}
			up = append(up, "MAINPID="+strconv.Itoa(s.self))
			continue
		case f == "READY=1":
			s.reload = false
			if !s.ready {
				s.ready = true
				s.writePIDFile()
				s.deliverHeld()
			}
		case f == "RELOADING=1":
			s.reload = true
		case f == "STOPPING=1":
			s.log.Debug("generation stopping", "sender_pid", m.sender)
		}
		if passedOn[key] {
			up = append(up, f)
		}
	}
	s.upstreamNotify(up...)
}

// mainPid accepts MAINPID=val from sender if val names a descendant; the
// named generation serves from now on.
func (s *supervisor) mainPid(val string, sender int) bool {
	pid, err := strconv.Atoi(val)
	if err != nil || pid == s.self || !s.descendant(pid) {
		s.log.Warn("MAINPID naming a process that is not a generation ignored", "mainpid", val, "sender_pid", sender)
		return false
	}
	if pid != s.serving || s.gone {
		s.log.Info("generation serves", "child_pid", pid, "previous_pid", s.serving)
		if s.stopSig != nil && pid != s.serving {
			// A stop raced the handover: the new generation stops too.
			s.send(pid, s.stopSig)
		}
	}
	s.gens[pid] = true
	s.serving, s.gone, s.known = pid, false, false
	return true
}

// writePIDFile writes the PID file held until the first READY=1. The
// service runs whatever happens: a failure is logged, as the runtime does
// for a generation's PID file.
func (s *supervisor) writePIDFile() {
	if s.pidFile == "" {
		return
	}
	if err := writePIDFile(s.pidFile, s.self); err != nil {
		s.log.Error("writing the PID file failed; serving anyway", "error", err)
		return
	}
	s.log.Debug("wrote the PID file", "pidfile", s.pidFile)
}

func (s *supervisor) deliverHeld() {
	held := s.held
	s.held = nil
	for _, sig := range held {
		s.signal(sig)
	}
}

func (s *supervisor) upstreamNotify(fields ...string) {
	if !s.upstream || len(fields) == 0 {
		return
	}
	if _, err := daemon.SdNotify(false, strings.Join(fields, "\n")); err != nil {
		s.log.Warn("passing a notification on to NOTIFY_SOCKET failed", "error", err)
	}
}

// descendant says whether pid is one of our descendants; without a /proc
// of our own PID namespace it can only say whether pid lives (the notify
// socket's directory is ours alone, so only our user can reach it).
func (s *supervisor) descendant(pid int) bool {
	if !s.procOK {
		return pid > 0 && alive(pid)
	}
	return isDescendant(pid, s.self)
}
