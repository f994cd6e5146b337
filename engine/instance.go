package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/upgrade"
)

// Options start a generation.
type Options struct {
	// Config returns the first generation's config, as JSON, and where it
	// came from ("file:/etc/flipd.json", "default", ...). A generation
	// started by a reload gets its config from the one it replaces, and
	// Config is not called.
	Config func() (raw []byte, source string, err error)
	// PIDFile, if set, names the generation that serves: each writes it
	// once it serves (a failure is logged and shown in Status, never
	// fatal), and a final stop removes it.
	PIDFile string
	// LogOutput receives the logs. Default: standard error.
	LogOutput io.Writer
	// Admin builds the admin API's server for this generation, unless the
	// config disables it. The runtime serves it on admin.listen like any
	// listener: its socket passes from generation to generation. (The
	// admin package provides it; runtime does not import admin.)
	Admin func(in *Instance, cfg AdminConfig) (flipd.Server, error)
}

// State is where a generation is in its life.
type State string

// The states of a generation.
const (
	StateStarting State = "starting"
	StateActive   State = "active"
	StateDraining State = "draining"
	// StateStopping: told to stop for good, the generation still serves
	// for upgrade.shutdown_delay while readiness probes answer 503; it
	// drains after that.
	StateStopping State = "stopping"
)

// Instance is this process's generation: it serves one config until a
// new generation takes over or it is stopped, then drains.
type Instance struct {
	upg     upgrader
	ulog    *upgradeLog
	log     hclog.Logger
	started time.Time

	mu sync.Mutex
	// inbound is closed once the previous generation has finished moving
	// connections here (nil: none offered); onward holds this
	// generation's sinks to the next one, by key, once it handed over.
	inbound       chan struct{}
	onward        map[string]flipd.ConnSink
	state         State
	current       *loaded
	source        string
	drainingSince time.Time
	readyAt       time.Time
	stats         Stats

	// stopAsked: Stop came before this generation handed over; a reload
	// in flight that completes anyway must stop the new generation too.
	stopAsked, handedOver bool
	// newGen is the generation that took over, watched until this one
	// exits (newGenSince: when); newGenWarned says its exit once.
	newGen       upgrade.Child
	newGenSince  time.Time
	newGenWarned sync.Once
	// delay runs out upgrade.shutdown_delay after a Stop; Close stops it.
	delay *time.Timer
	// pidFile is the PID file this generation wrote, and pidFileErr why
	// it could not. pidMu orders what is done to the file (taken before
	// mu): a failed reload fixes it up while a final stop removes it.
	pidFile, pidFileErr string
	pidMu               sync.Mutex
	// stopPid asks the generation pid to stop: stopProcess.
	stopPid func(pid int) error

	drainCtx    context.Context // ends at drain_timeout, or at Close
	cancelDrain context.CancelFunc
	done        chan struct{}
	drainErr    error
}

// payload is what a generation passes to the next; versioned, since the
// two may be different builds.
type payload struct {
	Version int `json:"version"`
	// Config travels as bytes, not json.RawMessage (which encoding/json
	// compacts), so that GET /config shows the config as it was sent.
	Config []byte `json:"config"`
	Source string `json:"source"`
	// Requested is when the reload was asked for, to time it end to end;
	// Sent when the payload was made, just before the new process was
	// started (its "serving" line says how long each step took).
	Requested time.Time `json:"requested"`
	Sent      time.Time `json:"sent,omitzero"`
	Stats     Stats     `json:"stats"`
	// State is what modules hand over (Context.Handover), by key.
	State map[string][]byte `json:"state,omitempty"`
}

const payloadVersion = 1

// Start starts this generation: it takes the config (from opts, or from
// the generation it replaces), provisions its modules, opens or inherits
// their sockets and serves. Only then does it report ready, so that the
// generation it replaces starts draining. If anything fails, that
// generation is told why and keeps serving, and Start returns the error.
func Start(opts Options) (*Instance, error) {
	// Beside the wait in New: for the handshake, or in a standby for
	// the reload that starts it.
	go warmUp()
	ulog := newUpgradeLog()
	upg, err := upgrade.New(upgrade.Options{UpgradeTimeout: DefaultUpgradeTimeout, Logger: ulog})
	if err != nil {
		return nil, fmt.Errorf("flipd: %w", err)
	}
	// From here: a standby waited in New for its reload, which starts
	// this generation.
	started := time.Now()
	return launch(newInstance(upg, ulog, started), opts)
}

// newInstance is a generation on upg, not started yet.
func newInstance(upg upgrader, ulog *upgradeLog, started time.Time) *Instance {
	return &Instance{upg: upg, ulog: ulog, started: started, state: StateStarting, done: make(chan struct{}),
		stopPid: stopProcess}
}

// launch is Start's second half, on whichever upgrader in has.
func launch(in *Instance, opts Options) (*Instance, error) {
	if err := in.start(opts); err != nil {
		in.upg.Fail(err)
		in.upg.Stop()
		return nil, err
	}
	go in.waitExit()
	return in, nil
}

func (in *Instance) start(opts Options) error {
	var raw []byte
	var source string
	var inherited map[string][]byte
	clock := startupClock{started: in.started}
	if !in.upg.HasParent() {
		var err error
		if raw, source, err = opts.Config(); err != nil {
			return err
		}
	} else {
		var p payload
		if err := json.Unmarshal(in.upg.Payload(), &p); err != nil || p.Version != payloadVersion {
			return fmt.Errorf("flipd: reading the config from the previous generation: version %d, %v", p.Version, err)
		}
		raw, source, in.stats, inherited = p.Config, p.Source, p.Stats, p.State
		clock.requested, clock.sent = p.Requested, p.Sent
	}
	gen := in.upg.Generation()
	cfg, err := ParseConfig(raw)
	if err != nil {
		return err
	}
	in.log = NewLogger(cfg.Logging, opts.LogOutput, gen)
	in.ulog.forwardTo(in.log.Named("upgrade"))
	l, err := loadParsed(context.Background(), cfg, raw, in.log, gen, inherited)
	if err != nil {
		return err
	}
	l.state.Readiness = func() string { return string(in.Readiness()) }
	if err := in.addAdmin(l, opts.Admin); err != nil {
		return errors.Join(err, l.cleanup())
	}
	clock.mark("provision")
	// A standby provisions beside the previous generation's verification
	// of its config, and serves only once that says yes.
	if err := in.upg.Verified(); err != nil {
		return errors.Join(err, l.cleanup())
	}
	// The admin API answers as soon as it accepts, before serve returns:
	// what it reports must be in place.
	in.mu.Lock()
	in.current, in.source = l, source
	in.mu.Unlock()
	if err := l.serve(in.upg); err != nil {
		return errors.Join(err, l.cleanup())
	}
	clock.mark("listen")
	in.drainCtx, in.cancelDrain = context.WithCancel(context.Background())
	in.offerConns(l)
	if in.upg.HasParent() {
		// Recorded before Ready: the admin API serves already, and once
		// the parent hears "ready" requests reach this generation, whose
		// /status and /metrics must count the upgrade that made it.
		// (Recorded after, a GET /metrics could see generation 2 and no
		// upgrade yet.) If Ready fails, the parent ends this process.
		now := time.Now()
		in.mu.Lock()
		in.stats.record(UpgradeRecord{From: gen - 1, To: gen, Pid: os.Getpid(), Result: "ok", Source: source,
			Started: clock.requested, Duration: flipd.Duration(now.Sub(clock.requested))})
		in.mu.Unlock()
	}
	in.upg.EnableStandby(l.cfg.Upgrade.Standby)
	readyErr := in.upg.Ready()
	clock.mark("ready")
	if readyErr != nil {
		in.log.Error("reporting ready failed", "error", readyErr)
	}
	if readyErr == nil || !in.upg.HasParent() {
		// Datagram sockets have no accept queue to leave to the new
		// generation: it reads them only once the old one has been told
		// to stop (flipd.PacketServer). Options change the sockets the
		// old one serves on, so they too wait for a ready that held.
		l.servePackets()
		l.applySocketOptions()
	}
	// Written even if the parent did not hear: a parent that died in the
	// handshake leaves this generation serving alone. A live parent that
	// gave up on it rewrites the file (Reload).
	in.writePIDFile(opts.PIDFile)
	in.mu.Lock()
	in.state, in.readyAt = StateActive, time.Now()
	in.mu.Unlock()
	args := []any{"listeners", len(l.listeners), "source", source,
		"startup", time.Since(in.started).Round(time.Microsecond), "has_parent", in.upg.HasParent()}
	if in.upg.HasParent() {
		args = append(args, clock.fields()...)
	}
	in.log.Info("serving", args...)
	if err := SaveLastConfig(storageDir(cfg), raw); err != nil {
		in.log.Warn("could not save the config for --resume", "error", err)
	}
	if in.upg.HasParent() {
		go in.timeParentDrain()
	}
	return nil
}

// addAdmin adds the admin API to the listeners, unless it is disabled.
func (in *Instance) addAdmin(l *loaded, build func(*Instance, AdminConfig) (flipd.Server, error)) error {
	if build == nil || l.cfg.Admin.Disabled {
		return nil
	}
	addr, err := l.cfg.Admin.Address()
	if err != nil {
		return &flipd.ConfigError{Field: "admin.listen", Err: err}
	}
	mod, err := build(in, l.cfg.Admin)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	l.listeners = append(l.listeners, &listener{name: "admin", addr: addr, module: mod, admin: true})
	return nil
}

// timeParentDrain records how long the parent took to drain and exit.
func (in *Instance) timeParentDrain() {
	if err := in.upg.WaitForParent(context.Background()); err != nil {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.stats.DrainSeconds.observe(DrainBuckets, time.Since(in.readyAt).Seconds())
}

// Stop stops this generation gracefully: it drains, within the config's
// drain_timeout, and Wait returns. With upgrade.shutdown_delay set, it
// first serves on for that long while Readiness answers stopping, and
// refuses reloads; a second Stop meanwhile changes nothing, Close ends
// the delay. A stop wins over a reload in flight: the new generation is
// killed if it is not ready yet, and stopped in turn if it is. Once this
// generation has handed over, Stop changes nothing: it is draining
// already, and the new one serves.
func (in *Instance) Stop() { in.stop(false) }

// Close stops at once: without a shutdown delay, and connections still
// open are closed now.
func (in *Instance) Close() {
	in.stop(true)
	in.cancelDrain()
}

// stop is Stop, or with now Close's first half.
func (in *Instance) stop(now bool) {
	in.mu.Lock()
	if !in.handedOver {
		in.stopAsked = true
	}
	delay := in.shutdownDelay()
	switch {
	case in.state == StateStopping && !now:
		in.mu.Unlock()
		in.log.Info("already stopping: the shutdown delay runs on; a second SIGINT stops at once")
		return
	case now || delay <= 0 || in.handedOver || in.state != StateActive:
		if in.delay != nil {
			in.delay.Stop()
		}
		in.mu.Unlock()
		in.upg.Stop()
		return
	}
	in.state = StateStopping
	in.delay = time.AfterFunc(delay, in.upg.Stop)
	in.mu.Unlock()
	in.log.Info(fmt.Sprintf("stopping in %s: readiness answers 503 meanwhile", delay), "shutdown_delay", delay)
}

// Wait blocks until this generation has drained, after a new one took
// over or after Stop, and its modules are cleaned up.
func (in *Instance) Wait() error {
	<-in.done
	return in.drainErr
}

// Done is closed when Wait would return.
func (in *Instance) Done() <-chan struct{} { return in.done }

func (in *Instance) waitExit() {
	<-in.upg.Exit()
	in.mu.Lock()
	in.state, in.drainingSince = StateDraining, time.Now()
	l := in.current
	in.mu.Unlock()

	timeout := l.cfg.Upgrade.DrainTimeout.Or(DefaultDrainTimeout)
	ctx, cancel := context.WithTimeout(in.drainCtx, timeout)
	defer cancel()
	sender := in.upg.ConnSender()
	sinks := in.moveConns(l, sender)
	in.log.Info("draining", "open_conns", l.openConns(), "timeout", timeout, "moving_listeners", len(sinks))
	start := time.Now()
	l.stopModules(ctx)

	errs := make([]error, len(l.listeners))
	var wg sync.WaitGroup
	for i, li := range l.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := ctx
			if li.admin && timeout < minAdminDrain {
				// The admin API must get out its answer to the reload
				// that ended this generation, however short the drain.
				actx, cancel := context.WithTimeout(in.drainCtx, minAdminDrain)
				defer cancel()
				ctx = actx
			}
			if err := li.drain(ctx); err != nil {
				errs[i] = fmt.Errorf("listener %q: %w", li.name, err)
			}
			if li.served == nil {
				return
			}
			if err := <-li.served; err != nil {
				in.log.Warn("listener stopped with an error", "listener", li.name, "error", err)
			}
		}()
	}
	wg.Wait()
	in.waitInbound(ctx)
	if err := sender.Close(); err != nil {
		in.log.Debug("closing the connection channel", "error", err)
	}
	moved := movedCount(sinks)
	in.drainErr = errors.Join(errs...)
	if in.drainErr != nil {
		in.log.Warn("drain ended with connections closed", "error", in.drainErr, "elapsed", time.Since(start), "moved_conns", moved)
	} else {
		in.log.Info("drained", "elapsed", time.Since(start), "moved_conns", moved)
	}
	if err := l.cleanup(); err != nil {
		in.log.Warn("cleaning up modules", "error", err)
	}
	in.settleNewGeneration()
	in.removePIDFile()
	close(in.done)
}

// minAdminDrain is the shortest drain the admin API gets: its requests
// are short, and the one in flight may be the reload that ended this
// generation.
const minAdminDrain = 5 * time.Second

// Logger is this generation's logger.
func (in *Instance) Logger() hclog.Logger { return in.log }

// Generation is this process's generation number.
func (in *Instance) Generation() int { return in.upg.Generation() }

// ConfigJSON is the config this generation serves.
func (in *Instance) ConfigJSON() []byte {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.current.raw
}

// Status describes this generation and the older ones still draining.
type Status struct {
	Generation int            `json:"generation"`
	Pid        int            `json:"pid"`
	State      State          `json:"state"`
	Started    time.Time      `json:"started"`
	Uptime     flipd.Duration `json:"uptime"`
	OpenConns  int            `json:"open_conns"`
	// OpenSessions counts the sessions of the packet listeners (udp
	// proxy: one per client address) in this generation.
	OpenSessions  int       `json:"open_sessions"`
	DrainingSince time.Time `json:"draining_since,omitzero"`
	Source        string    `json:"source"`
	// PIDFileError says why the PID file could not be written, if it
	// could not: this generation serves anyway.
	PIDFileError string `json:"pid_file_error,omitempty"`
	// Older lists the older generations still alive, oldest first: they
	// have handed over and are draining.
	Older []OlderGeneration `json:"older"`
	// Standby is the next generation started ahead of time
	// (upgrade.standby), if there is one.
	Standby *StandbyGeneration `json:"standby,omitempty"`
}

// StandbyGeneration is the process the next reload takes.
type StandbyGeneration struct {
	Pid int `json:"pid"`
	// Warm says it has initialised and waits; a reload that comes
	// before waits for it.
	Warm bool `json:"warm"`
}

// OlderGeneration is an older generation still draining.
type OlderGeneration struct {
	Generation int       `json:"generation"`
	Pid        int       `json:"pid"`
	State      State     `json:"state"`
	Started    time.Time `json:"started"`
}

// Status reports on this generation.
func (in *Instance) Status() Status {
	older := []OlderGeneration{}
	for _, e := range in.upg.Elders() {
		older = append(older, OlderGeneration{Generation: e.Generation, Pid: e.Pid, State: StateDraining, Started: e.Started})
	}
	var standby *StandbyGeneration
	if sb := in.upg.Standby(); sb.Pid != 0 {
		standby = &StandbyGeneration{Pid: sb.Pid, Warm: sb.Warm}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return Status{
		Generation:    in.upg.Generation(),
		Pid:           os.Getpid(),
		State:         in.state,
		Started:       in.started,
		Uptime:        flipd.Duration(time.Since(in.started).Round(time.Millisecond)),
		OpenConns:     in.current.openConns(),
		OpenSessions:  in.current.openSessions(),
		DrainingSince: in.drainingSince,
		Source:        in.source,
		PIDFileError:  in.pidFileErr,
		Older:         older,
		Standby:       standby,
	}
}
