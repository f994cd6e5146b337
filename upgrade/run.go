package upgrade

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"runtime"
	"time"
)

// run owns the upgrade state machine: readiness, the one upgrade in
// flight, and the older generations still draining. Callers talk to it
// over channels, so no lock guards that state.
func (u *Upgrader) run() {
	exited := false
	exit := func() {
		if !exited {
			exited = true
			close(u.exitC)
		}
	}
	defer exit()
	defer u.dropStandby()

	var (
		ready     bool
		upgrading bool
		results   = make(chan upgradeResult)
		stopC     = u.stopC
	)
	for {
		select {
		case done := <-u.readyC:
			ready = true
			close(done)
			u.scheduleAfterReady()

		case r := <-u.standbyC:
			u.sb.enabled = r.on
			switch {
			case !r.on:
				u.dropStandby()
			case u.sb.cur == nil && u.sb.due == nil && ready && !upgrading:
				u.scheduleStandby(0)
			}
			close(r.done)

		case reply := <-u.standbyInfoC:
			reply <- u.standbyInfo()

		case <-u.sb.due:
			u.sb.due = nil
			if ready && !upgrading && stopC != nil {
				u.spawnStandby()
			}

		case sb := <-u.sb.gone:
			if sb == u.sb.cur {
				u.sb.cur = nil
				u.sb.failures++
				if sb.warmed() { // it did start: no streak of failed starts
					u.sb.failures = 1
				}
				delay := standbyDelay(u.sb.failures)
				u.log.Info("standby exited before it was needed; starting another later", "standby_pid", sb.c.proc.Pid, "retry_in", delay)
				u.scheduleStandby(delay)
			}

		case <-u.fdsChanged:
			if u.sb.cur != nil {
				u.log.Debug("descriptors changed; the standby is replaced", "standby_pid", u.sb.cur.c.proc.Pid)
				u.dropStandby()
				u.scheduleStandby(standbyRefresh)
			}

		case e := <-u.elderGone:
			u.forgetElder(e)
			u.log.Debug("older generation exited", "elder_pid", e.pid, "elder_generation", e.generation)

		case reply := <-u.drainingC:
			reply <- u.elderInfo()

		case req := <-u.upgradeC:
			switch {
			case !ready:
				req.reply <- upgradeReply{err: ErrNotReady}
			case upgrading:
				req.reply <- upgradeReply{err: ErrUpgradeInProgress}
			case len(u.elders) >= req.maxDraining:
				req.reply <- upgradeReply{err: &DrainingError{Pids: u.elderPids(), Max: req.maxDraining}}
			default:
				elders, draining, err := u.dupElders()
				if err != nil {
					req.reply <- upgradeReply{err: err}
					continue
				}
				upgrading = true
				sb := u.sb.cur
				u.sb.cur = nil
				go func() {
					c, err := u.doUpgrade(req, elders, draining, sb)
					results <- upgradeResult{req: req, child: c, err: err}
				}()
			}

		case res := <-results:
			upgrading = false
			var refused *verifyError
			if errors.As(res.err, &refused) {
				// Nothing was announced or served: only the standby,
				// if there was one, is gone.
				res.req.reply <- upgradeReply{err: refused.err}
				u.scheduleStandby(0)
				if stopC == nil {
					u.stopped(ready)
					return
				}
				continue
			}
			if res.err != nil {
				u.log.Warn("upgrade failed; this generation keeps serving", "error", res.err)
				u.afterFailedUpgrade()
				res.req.reply <- upgradeReply{err: res.err}
				u.scheduleStandby(0)
				if stopC == nil { // Stop came while the upgrade was in flight
					u.stopped(ready)
					return
				}
				continue
			}
			u.children = append(u.children, res.child)
			u.sender.Store(res.child.sender)
			res.req.reply <- upgradeReply{child: res.child.handedOver()}
			// The caller, just made runnable on this P, runs first:
			// otherwise it waits while this goroutine logs and closes
			// the descriptors, and the program, woken by Exit, closes
			// its listeners (milliseconds, for a thousand of them).
			runtime.Gosched()
			u.log.Info("handed over to new generation", "child_pid", res.child.proc.Pid)
			exit()
			// The sockets live on in the new generation; this one keeps
			// only what its own listeners hold until it drains. Closing
			// a thousand copies takes milliseconds, so the caller hears
			// first and starts draining meanwhile.
			u.Fds.closeUsed(unlinkNone)
			return

		case <-stopC:
			stopC = nil
			u.dropStandby()
			if upgrading {
				continue // doUpgrade sees stopC too, and reports
			}
			u.stopped(ready)
			return
		}
	}
}

// stopped closes the registry after Stop. A final stop removes the unix
// socket files and the PID file; a new generation that stops before it is
// ready leaves what its parent serves and removes only the socket files
// it created.
func (u *Upgrader) stopped(ready bool) {
	if !u.finalStop(ready) {
		u.Fds.closeUsed(unlinkCreated)
		return
	}
	u.Fds.closeUsed(unlinkAll)
	if u.opts.PIDFile != "" {
		if err := removePIDFile(u.opts.PIDFile, os.Getpid()); err != nil {
			u.log.Warn("removing the PID file after a final stop", "error", err)
		}
	}
}

// finalStop says whether a Stop ends the service, so that its unix socket
// files go: not in a new generation that stops before it was ready (it
// failed, and its parent still serves those sockets).
func (u *Upgrader) finalStop(ready bool) bool {
	return !u.readyFailed.Load() && (ready || u.parent == nil)
}

// doUpgrade starts the next generation, or activates the standby sb if
// it may be taken, and waits for it.
func (u *Upgrader) doUpgrade(req upgradeRequest, elders []drainingGen, draining []int, sb *standby) (*child, error) {
	defer func() {
		for _, fd := range draining {
			closeFd(fd)
		}
	}()
	start := time.Now()
	var c *child
	var conns *net.UnixConn
	if req.verify != nil {
		// A standby prepares beside the verification; without one,
		// nothing starts for an upgrade that does not go ahead.
		taken := sb
		c, conns = u.takeStandby(sb, req)
		sb = nil // taken, or discarded
		if err := req.verify(); err != nil {
			if c != nil {
				tellVerdict(c, false)
				taken.discard()
			}
			return nil, &verifyError{err}
		}
	}
	notifyReloading()
	if c != nil {
		if err := tellVerdict(c, true); err != nil {
			u.log.Debug("telling the standby it may serve", "error", err) // gone: wait says so
		}
	} else if c, conns = u.takeStandby(sb, req); c == nil {
		var err error
		if c, conns, err = u.startNext(req, elders, draining); err != nil {
			return nil, err
		}
	}
	u.log.Debug("new generation started", "child_pid", c.proc.Pid, "standby", c.handshakeW != nil)
	if req.started != nil {
		req.started(c.proc.Pid)
	}
	if err := c.wait(req.timeout, u.stopC); err != nil {
		if conns != nil { // nothing ever moves to a child that failed
			conns.Close()
		}
		return nil, err
	}
	c.sender = openSender(conns, u.log)
	u.log.Debug("new generation ready", "child_pid", c.proc.Pid, "duration", time.Since(start))
	return c, nil
}

// verifyError is an upgrade that UpgradeOptions.Verify refused.
type verifyError struct{ err error }

func (e *verifyError) Error() string { return e.err.Error() }
func (e *verifyError) Unwrap() error { return e.err }

// startNext starts a new process as the next generation, with the
// registry's descriptors.
func (u *Upgrader) startNext(req upgradeRequest, elders []drainingGen, draining []int) (*child, *net.UnixConn, error) {
	c, conns, _, err := u.launch(u.executableFor(req), req.payload, false, elders, draining)
	return c, conns, err
}

// launch starts exe as the next generation (or its standby), with the
// registry's descriptors, the older generations' liveness pipes and a
// connection channel; it returns the registry's version it passed.
func (u *Upgrader) launch(exe string, payload []byte, standby bool, elders []drainingGen, draining []int) (*child, *net.UnixConn, uint64, error) {
	hs := &handshake{
		Version:    protocolVersion,
		Generation: u.generation + 1,
		ParentPid:  os.Getpid(),
		Executable: u.exe,
		Draining:   elders,
		Payload:    payload,
		// So that a child that dies before it is ready leaves no socket
		// file behind to block the next upgrade's bind.
		ReportSockets: true,
		Standby:       standby,
	}
	// The registry stays locked while the child starts, so that nobody
	// closes a descriptor that is being passed.
	u.Fds.mu.Lock()
	keys, fds := u.Fds.snapshotLocked()
	version := u.Fds.version
	hs.Files = make([]passedFd, len(keys))
	for i, key := range keys {
		hs.Files[i].fdKey = key
	}
	// The connection channel: without it (a platform that has none),
	// the upgrade goes on and every connection drains.
	conns, connsFd, cerr := newConnsPair()
	if cerr != nil && !errors.Is(cerr, ErrNotSupported) {
		u.log.Warn("no connection channel for the next generation; connections will drain", "error", cerr)
	}
	c, err := startChild(exe, os.Args, childEnv(), hs, u.started, fds, draining, connsFd)
	u.Fds.mu.Unlock()
	if connsFd >= 0 {
		closeFd(connsFd)
	}
	if err != nil {
		if conns != nil {
			conns.Close()
		}
		return nil, nil, 0, err
	}
	return c, conns, version, nil
}

// executableFor is the binary an upgrade starts: the one at the path this
// process was started from, or, for a config-only upgrade when that path
// is gone (go run deletes its temporary binary), the running one. The
// child is still told the path, so that a later upgrade picks up a new
// binary put there.
func (u *Upgrader) executableFor(req upgradeRequest) string {
	if !req.configOnly {
		return u.exe
	}
	if _, err := os.Stat(u.exe); !errors.Is(err, fs.ErrNotExist) {
		return u.exe
	}
	running := runningExecutable()
	if running == "" {
		return u.exe // the upgrade fails, saying the path is gone
	}
	u.log.Warn("executable is gone; starting the running binary for a config-only upgrade",
		"executable", u.exe, "running", running)
	return running
}

// afterFailedUpgrade undoes what a failed child may have done: it may
// have written the PID file, and systemd was told we are reloading.
func (u *Upgrader) afterFailedUpgrade() {
	if u.opts.PIDFile != "" {
		if err := writePIDFile(u.opts.PIDFile, os.Getpid()); err != nil {
			u.log.Warn("rewriting PID file failed", "error", err)
		}
	}
	notifyReady(os.Getpid())
}

// dupElders duplicates the liveness pipes of the older generations still
// alive, to pass them on: the child must know about every generation that
// is still draining, not only its parent, or its MaxDraining under-counts.
// An elder whose pipe cannot be duplicated is dropped only if it has
// exited; otherwise (out of descriptors, say) the upgrade fails.
func (u *Upgrader) dupElders() ([]drainingGen, []int, error) {
	var gens []drainingGen
	var fds []int
	for _, e := range u.elders {
		fd, err := dupConn(e.pipe)
		if err != nil {
			select {
			case <-e.exited:
				continue // it has just exited
			default:
			}
			for _, fd := range fds {
				closeFd(fd)
			}
			return nil, nil, fmt.Errorf("upgrade: can't pass on older generation %d (pid %d), which still drains: %w", e.generation, e.pid, err)
		}
		gens = append(gens, drainingGen{Pid: e.pid, Generation: e.generation, Started: e.started})
		fds = append(fds, fd)
	}
	return gens, fds, nil
}

func (u *Upgrader) forgetElder(gone *elder) {
	for i, e := range u.elders {
		if e == gone {
			u.elders = append(u.elders[:i], u.elders[i+1:]...)
			return
		}
	}
}

func (u *Upgrader) elderInfo() []Elder {
	out := make([]Elder, len(u.elders))
	for i, e := range u.elders {
		out[i] = Elder{Pid: e.pid, Generation: e.generation, Started: e.started}
	}
	return out
}

func (u *Upgrader) elderPids() []int {
	pids := make([]int, len(u.elders))
	for i, e := range u.elders {
		pids[i] = e.pid
	}
	return pids
}
