package engine

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"time"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/upgrade"
)

// ReloadOptions tune one reload.
type ReloadOptions struct {
	// Source says where the config came from ("api", "file:...").
	Source string
	// Progress, if set, hears each step of the reload.
	Progress func(Progress)

	// newBinary is set by Upgrade: only that one needs the binary at the
	// path flipd was started from; a config reload runs the running one
	// if that path is gone (go run deletes its temporary binary).
	newBinary bool
}

// Progress is a step of a reload.
type Progress struct {
	// Step is "validated" (the config loads; no socket opened yet),
	// "started" (the new process runs), or "ready" (it serves; this
	// generation drains OpenConns connections).
	Step       string `json:"step"`
	Generation int    `json:"generation"`
	Pid        int    `json:"pid,omitempty"`
	OpenConns  int    `json:"open_conns,omitempty"`
}

// ReloadResult says which generation serves after a reload.
type ReloadResult struct {
	Generation int            `json:"generation"`
	Pid        int            `json:"pid"`
	Duration   flipd.Duration `json:"duration"`
	// Draining is the generation that handed over, and the connections it
	// still had when it did.
	Draining OlderGeneration `json:"draining"`
	Drains   int             `json:"draining_conns"`
	// Warning is what went wrong without stopping the reload: the new
	// generation serves, but cannot save its config for --resume, say.
	Warning string `json:"warning,omitempty"`
}

// Reload validates raw without opening a socket, then starts a new
// generation with it and returns once that generation serves. Errors: a
// *ConfigError (nothing was started), a *upgrade.ChildError (the new
// generation failed: this one keeps serving), upgrade.ErrUpgradeInProgress,
// upgrade.ErrAlreadyUpgraded, a *upgrade.DrainingError, or ErrStopping
// (during upgrade.shutdown_delay: this generation stops for good).
func (in *Instance) Reload(raw []byte, opts ReloadOptions) (ReloadResult, error) {
	requested := time.Now()
	gen := in.upg.Generation() + 1
	progress := opts.Progress
	if progress == nil {
		progress = func(Progress) {}
	}
	record := func(result string, pid int, err error) {
		in.mu.Lock()
		defer in.mu.Unlock()
		in.stats.record(UpgradeRecord{From: gen - 1, To: gen, Pid: pid, Result: result, Error: err.Error(),
			Source: opts.Source, Started: requested, Duration: flipd.Duration(time.Since(requested))})
	}

	if err := in.refuseIfStopping(); err != nil {
		in.log.Warn("reload refused: this generation is stopping", "source", opts.Source)
		record("refused", 0, err)
		return ReloadResult{}, err
	}
	invalid := func(err error) (ReloadResult, error) {
		in.log.Error("reload failed; this generation keeps serving", "source", opts.Source, "error", err)
		record("invalid_config", 0, err)
		return ReloadResult{}, err
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		return invalid(err)
	}
	storageErr := make(chan error, 1)
	verified := false // by verify, which an upgrade that succeeds ran
	// The modules are provisioned here without a socket, to refuse a
	// config that would fail, while the new generation starts: a standby
	// provisions them meanwhile, and serves only if this says yes
	// (upgrade.UpgradeOptions.Verify); a new process starts only after.
	verify := func() error {
		// Warnings while validating (a stored certificate served because
		// the ACME directory is down, say) are worth seeing.
		l, err := loadParsed(context.Background(), cfg, raw, in.log.Named("validate"), gen, nil)
		if err != nil {
			return &rejectedConfig{err}
		}
		if err := l.cleanup(); err != nil {
			in.log.Warn("cleaning up after validating the new config", "error", err)
		}
		in.mu.Lock()
		err = checkSocketChanges(in.current, l)
		in.mu.Unlock()
		if err != nil {
			return &rejectedConfig{err}
		}
		progress(Progress{Step: "validated", Generation: gen})
		in.log.Info("reloading", "source", opts.Source, "new_generation", gen)
		// Whether the new generation will be able to save the config
		// is found out while it starts, not after: the answer waits
		// for it.
		go func() { storageErr <- checkStorage(storageDir(cfg), raw) }()
		verified = true
		return nil
	}

	in.mu.Lock()
	p, err := json.Marshal(payload{Version: payloadVersion, Config: raw, Source: opts.Source,
		Requested: requested, Sent: time.Now(), Stats: in.stats.copy(), State: in.current.handoverState()})
	in.mu.Unlock()
	if err != nil {
		return ReloadResult{}, err
	}
	child, err := in.upg.UpgradeWithOptions(upgrade.UpgradeOptions{
		Payload:     p,
		Timeout:     cfg.Upgrade.Timeout.Or(DefaultUpgradeTimeout),
		MaxDraining: cfg.Upgrade.MaxDraining,
		Started:     func(pid int) { progress(Progress{Step: "started", Generation: gen, Pid: pid}) },
		ConfigOnly:  !opts.newBinary,
		Verify:      verify,
	})
	if rc := (*rejectedConfig)(nil); errors.As(err, &rc) {
		return invalid(rc.err)
	}
	if err != nil {
		in.log.Error("reload failed; this generation keeps serving", "source", opts.Source, "error", err,
			"duration", time.Since(requested))
		result, pid := "failed", 0
		var ce *upgrade.ChildError
		if errors.As(err, &ce) {
			pid = ce.Pid
		} else {
			result = "refused"
		}
		record(result, pid, err)
		if pid != 0 { // a child ran, and may have written the PID file
			in.rewritePIDFile(pid)
		}
		return ReloadResult{}, err
	}
	in.handOver(child.Pid)
	in.stopAdminAccepting()
	in.mu.Lock()
	in.newGen, in.newGenSince = child, time.Now()
	in.mu.Unlock()
	go in.watchNewGeneration(child)
	conns := in.current.openConns()
	progress(Progress{Step: "ready", Generation: child.Generation, Pid: child.Pid, OpenConns: conns})
	d := time.Since(requested)
	in.log.Info("new generation serves; draining", "new_generation", child.Generation, "new_pid", child.Pid,
		"duration", d, "open_conns", conns)
	res := ReloadResult{
		Generation: child.Generation,
		Pid:        child.Pid,
		Duration:   flipd.Duration(d),
		Draining:   OlderGeneration{Generation: gen - 1, Pid: os.Getpid(), State: StateDraining, Started: in.started},
		Drains:     conns,
	}
	if !verified { // an upgrader that never asked: nothing checked the storage
		storageErr <- nil
	}
	if err := <-storageErr; err != nil {
		in.log.Warn("the new generation serves, but will not be able to save its config for --resume", "error", err)
		res.Warning = err.Error()
	}
	return res, nil
}

// rejectedConfig is a config the reload's verification refused: nothing
// was started, or the standby that prepared it was discarded.
type rejectedConfig struct{ err error }

func (e *rejectedConfig) Error() string { return e.err.Error() }
func (e *rejectedConfig) Unwrap() error { return e.err }

// Upgrade re-executes the binary with the config in effect, to pick up a
// binary replaced on disk.
func (in *Instance) Upgrade(opts ReloadOptions) (ReloadResult, error) {
	in.mu.Lock()
	raw := in.current.raw
	if opts.Source == "" {
		opts.Source = in.source
	}
	in.mu.Unlock()
	opts.newBinary = true
	return in.Reload(raw, opts)
}

// Stats returns a copy of the numbers that outlive generations.
func (in *Instance) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stats.copy()
}
