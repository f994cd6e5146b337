package upgrade

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultReadyTimeout is how long a new generation may take to call
// Ready before it is killed and the upgrade fails, when
// Options.UpgradeTimeout is not set. flipd's runtime always sets it, to
// its config's upgrade.timeout (default engine.DefaultUpgradeTimeout,
// 30s), so this longer default is for programs that use this package as
// a library.
const DefaultReadyTimeout = time.Minute

// DefaultMaxDraining is how many generations may be draining at once when
// Options.MaxDraining is not set.
const DefaultMaxDraining = 2

// Options control an Upgrader. The zero value is usable.
type Options struct {
	// UpgradeTimeout bounds how long Upgrade waits for the new generation
	// to call Ready; it is then killed. Defaults to DefaultReadyTimeout.
	UpgradeTimeout time.Duration
	// PIDFile, if set, is rewritten atomically with the pid of the process
	// that serves: by a new generation when it calls Ready, and by this
	// one again when an upgrade fails; removed on a final Stop if it still
	// names this process. A PID file that cannot be written fails Ready.
	PIDFile string
	// ListenConfig creates new listeners and packet conns (set Control to
	// enable SO_REUSEPORT, say). Inherited ones are reused as they are.
	ListenConfig *net.ListenConfig

	// MaxDraining bounds how many generations may be draining at once:
	// Upgrade is refused with a *DrainingError while that many older
	// generations are still alive. Unlike tableflip, which waits for the
	// parent to exit, a new upgrade is allowed as soon as this process is
	// ready. Defaults to DefaultMaxDraining; 1 waits for the parent.
	MaxDraining int
	// Logger receives the upgrader's structured logs (with pid and
	// generation). Defaults to no logging.
	Logger hclog.Logger

	// Standby keeps the next generation started ahead of time, once this
	// one is ready: a process of the executable that has initialised
	// and made listeners of the descriptors, and waits in New for the
	// upgrade's payload, so that an upgrade costs what the program does
	// after New rather than a process start. See "Standby" in the
	// package documentation; EnableStandby changes it later.
	Standby bool
}

// Upgrader hands the process's descriptors to a new generation of its own
// executable. Create it with New, early in main.
type Upgrader struct {
	*Fds

	opts       Options
	log        hclog.Logger
	exe        string
	started    time.Time
	generation int
	payload    []byte
	// verdict is the wait for the parent's verdict of a standby activated
	// with Verify; nil otherwise. Verified reads it once.
	verdict     *standbyWait
	verdictOnce sync.Once
	verdictErr  error
	parent      *parent // nil in the first generation
	// parentExited is closed when the parent exits (never, without one).
	parentExited <-chan struct{}

	readyOnce sync.Once
	// readyFailed is set when Ready fails in a new generation: its Stop is
	// then not final (the parent serves on).
	readyFailed  atomic.Bool
	stopOnce     sync.Once
	stopC        chan struct{}
	exitC        chan struct{}
	readyC       chan chan struct{}
	upgradeC     chan upgradeRequest
	drainingC    chan chan []Elder
	elderGone    chan *elder
	standbyC     chan standbyRequest
	standbyInfoC chan chan StandbyInfo
	// fdsChanged hears that the registry changed (buffered, never
	// blocks the registry).
	fdsChanged chan struct{}

	// The state below belongs to run.
	elders []*elder // older generations still alive, oldest first
	sb     standbyState
	// connsIn is this generation's end of the connection channel from
	// its parent (nil without one); sender is the last new generation's.
	connsIn *connReceiver
	sender  atomic.Pointer[ConnSender]

	// children holds the liveness pipes of handed-over children: the
	// kernel must be the one to close them, at this process's exit.
	children []*child
}

type upgradeRequest struct {
	payload     []byte
	timeout     time.Duration
	maxDraining int
	started     func(pid int)
	configOnly  bool
	verify      func() error
	reply       chan upgradeReply
}

type upgradeReply struct {
	child Child
	err   error
}

// Child describes a new generation that took over.
type Child struct {
	Pid        int
	Generation int
	// Exited is closed when the new generation's process has exited
	// (this process reaps it, also after the handover), with its exit
	// status in ExitState. A new generation that exits while older ones
	// still drain either handed over in turn or left nothing serving.
	Exited <-chan struct{}
	// ExitState, once Exited is closed, returns how the process ended.
	ExitState func() *os.ProcessState
}

// UpgradeOptions tune one upgrade.
type UpgradeOptions struct {
	// Payload is passed to the new generation, which reads it with
	// Payload.
	Payload []byte
	// Timeout overrides Options.UpgradeTimeout for this upgrade.
	Timeout time.Duration
	// MaxDraining overrides Options.MaxDraining for this upgrade.
	MaxDraining int
	// Started, if set, is called once the new process has started, with
	// its pid, before it is ready (to report progress).
	Started func(pid int)
	// ConfigOnly says the caller wants the running program with a new
	// payload, not a new binary: if the executable's path no longer
	// exists (go run deletes its temporary binary), the running binary is
	// started instead (/proc/self/exe, Linux only) and a warning logged.
	// Without it, a missing executable fails the upgrade (ReasonStart).
	ConfigOnly bool
	// Verify, if set, decides whether the upgrade goes ahead (it checks a
	// new config, say) while the next generation gets ready: a standby
	// (Options.Standby) receives the payload at once and prepares what it
	// can before it serves, until its Verified returns, beside Verify.
	// Without a standby, Verify runs before the new process starts. An
	// error ends the upgrade before anything serves (the standby is
	// discarded, and another started) and UpgradeWithOptions returns
	// that very error.
	Verify func() error
}

type upgradeResult struct {
	req   upgradeRequest
	child *child
	err   error
}

var (
	singletonMu sync.Mutex
	singleton   *Upgrader // also keeps liveness pipes from the collector
)

// New creates the process's Upgrader. If the process was started by an
// upgrade, the descriptors of the parent are inherited; if it was started
// by systemd socket activation, the activated sockets are.
//
// Only the first call succeeds. On Windows it returns ErrNotSupported.
func New(opts Options) (*Upgrader, error) {
	singletonMu.Lock()
	defer singletonMu.Unlock()
	if singleton != nil {
		return nil, errors.New("upgrade: only one Upgrader per process")
	}
	u, err := newUpgrader(opts)
	if err != nil {
		return nil, err
	}
	singleton = u
	return u, nil
}

func newUpgrader(opts Options) (*Upgrader, error) {
	if err := platformSupported(); err != nil {
		return nil, err
	}
	if opts.UpgradeTimeout <= 0 {
		opts.UpgradeTimeout = DefaultReadyTimeout
	}
	if opts.MaxDraining <= 0 {
		opts.MaxDraining = DefaultMaxDraining
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	u := &Upgrader{
		opts:         opts,
		exe:          startExecutable,
		started:      time.Now(),
		generation:   1,
		stopC:        make(chan struct{}),
		exitC:        make(chan struct{}),
		readyC:       make(chan chan struct{}),
		upgradeC:     make(chan upgradeRequest),
		drainingC:    make(chan chan []Elder),
		standbyC:     make(chan standbyRequest),
		standbyInfoC: make(chan chan StandbyInfo),
		fdsChanged:   make(chan struct{}, 1),
	}
	u.sb.enabled = opts.Standby
	u.sb.gone = make(chan *standby)

	hs, wait, err := readHandshake()
	if err != nil {
		return nil, err
	}
	inherited := make(map[fdKey]int)
	if hs != nil {
		u.generation = hs.Generation
		u.payload = hs.Payload
		u.parent = &parent{pid: hs.ParentPid, generation: hs.Generation - 1, status: statusFile()}
		if hs.Executable != "" {
			u.exe = hs.Executable
		}
		for _, f := range hs.Files {
			inherited[f.fdKey] = f.FD
		}
		u.elderGone = make(chan *elder, len(hs.Draining))
		for _, d := range hs.Draining {
			u.elders = append(u.elders, watchElder(d, u.elderGone))
		}
		if n := len(u.elders); n > 0 { // the parent is the newest
			u.parentExited = u.elders[n-1].exited
		}
	} else if err := inheritActivated(inherited); err != nil {
		return nil, err
	}
	u.Fds = newFds(inherited, opts.ListenConfig)
	u.Fds.onChange = func() {
		select {
		case u.fdsChanged <- struct{}{}:
		default:
		}
	}
	u.log = opts.Logger.With("pid", os.Getpid(), "generation", u.generation)
	if wait != nil {
		if err := u.standByUntilActivated(wait); err != nil {
			return nil, err
		}
	}
	if hs != nil && hs.Conns != nil {
		u.connsIn = u.takeConnsChannel(*hs.Conns)
	}
	if hs != nil && hs.ReportSockets {
		u.Fds.onCreate = u.reportSocket
	}
	u.log.Debug("upgrader started", "inherited", len(inherited), "executable", u.exe)

	go u.run()
	return u, nil
}

// Exit returns a channel that is closed when the process should exit:
// after a successful upgrade, or after Stop.
func (u *Upgrader) Exit() <-chan struct{} { return u.exitC }

// Stop prevents further upgrades and closes the Exit channel; an upgrade
// in flight is abandoned and its child killed. If no upgrade has
// succeeded, this is taken as a final stop: the unix socket files of the
// registry are removed, and the PID file if it still names this process.
// A new generation that stops before it is ready (it failed, and its
// parent still serves) removes only the unix socket files it created
// itself. Ready after Stop fails (see Ready).
func (u *Upgrader) Stop() {
	u.stopOnce.Do(func() { close(u.stopC) })
}

// WaitForParent blocks until the parent generation has exited, or ctx
// ends. It returns at once in the first generation.
func (u *Upgrader) WaitForParent(ctx context.Context) error {
	if u.parent == nil {
		return nil
	}
	select {
	case <-u.parentExited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// HasParent reports whether this process was started by an upgrade.
func (u *Upgrader) HasParent() bool { return u.parent != nil }

// Generation is 1 in a process started by other means than an upgrade,
// and one more than its parent's in a process started by one.
func (u *Upgrader) Generation() int { return u.generation }

// Payload returns what the parent passed to UpgradeWith (nil for Upgrade,
// and in the first generation).
func (u *Upgrader) Payload() []byte { return u.payload }

// Executable is the absolute path the next generation is started from.
func (u *Upgrader) Executable() string { return u.exe }

// Upgrade starts a new generation of the executable with all registered
// descriptors and blocks until it is ready. On success the Exit channel is
// closed: stop accepting, drain, exit. On failure the returned error
// (usually a *ChildError) says what the child did, and this process goes
// on as before.
func (u *Upgrader) Upgrade() error { return u.UpgradeWith(nil) }

// UpgradeWith is Upgrade with a payload for the new generation, which
// reads it with Payload (the runtime passes the new config this way).
func (u *Upgrader) UpgradeWith(payload []byte) error {
	_, err := u.UpgradeWithOptions(UpgradeOptions{Payload: payload})
	return err
}

// UpgradeWithOptions is Upgrade with a payload and a timeout of its own;
// on success it says which process took over.
func (u *Upgrader) UpgradeWithOptions(opts UpgradeOptions) (Child, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = u.opts.UpgradeTimeout
	}
	if opts.MaxDraining <= 0 {
		opts.MaxDraining = u.opts.MaxDraining
	}
	req := upgradeRequest{payload: opts.Payload, timeout: opts.Timeout, maxDraining: opts.MaxDraining, started: opts.Started,
		configOnly: opts.ConfigOnly, verify: opts.Verify, reply: make(chan upgradeReply, 1)}
	select {
	case <-u.stopC:
		return Child{}, ErrTerminating
	case <-u.exitC:
		return Child{}, ErrAlreadyUpgraded
	case u.upgradeC <- req:
	}
	r := <-req.reply
	return r.child, r.err
}

// Elder is an older generation that has handed over and not exited yet.
type Elder struct {
	Pid        int
	Generation int
	Started    time.Time
}

// Elders lists the older generations still alive (draining), oldest
// first.
func (u *Upgrader) Elders() []Elder {
	reply := make(chan []Elder, 1)
	select {
	case u.drainingC <- reply:
		return <-reply
	case <-u.exitC:
		return nil
	}
}

// DrainingPids lists the pids of the older generations still alive,
// oldest first.
func (u *Upgrader) DrainingPids() []int {
	var pids []int
	for _, e := range u.Elders() {
		pids = append(pids, e.Pid)
	}
	return pids
}
