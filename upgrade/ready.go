package upgrade

import (
	"errors"
	"fmt"
	"os"
)

// Ready signals that this process serves. It closes inherited descriptors
// that were not claimed, writes the PID file, tells systemd (MAINPID,
// READY=1) and then the parent, which stops accepting and drains.
// Upgrade may be called as soon as Ready returns.
//
// If the PID file cannot be written, or Stop was called first, Ready
// returns an error (as tableflip's does). In a new generation it first
// stops accepting (the listeners and packet conns this Upgrader handed
// out are closed; the kernel sockets live on in the parent), stops the
// Upgrader (Exit closes; unix socket files it created are removed) and
// tells the parent at once, which goes on serving: drain what was
// accepted and exit.
func (u *Upgrader) Ready() error {
	// A generation that did not wait for its verdict does not hand over
	// without it.
	if err := u.Verified(); err != nil {
		return u.failReady(err)
	}
	u.readyOnce.Do(u.Fds.closeInherited)
	select {
	case <-u.stopC:
		return u.failReady(errStoppedBeforeReady)
	default:
	}
	// Written before anything says ready, so that a PID file that cannot
	// be written fails the upgrade before the parent hands over.
	var pidFile *pendingPIDFile
	if u.opts.PIDFile != "" {
		p, err := preparePIDFile(u.opts.PIDFile, os.Getpid())
		if err != nil {
			return u.failReady(fmt.Errorf("pid file: %w", err))
		}
		pidFile = p
	}
	// Ready for upgrades before anything outside can see it: whoever
	// reads the PID file may send SIGHUP at once.
	done := make(chan struct{})
	select {
	case u.readyC <- done:
		<-done
	case <-u.exitC: // stopped meanwhile
		pidFile.discard()
		return u.failReady(errStoppedBeforeReady)
	}
	if pidFile != nil {
		if err := pidFile.commit(); err != nil {
			return u.failReady(fmt.Errorf("pid file: %w", err))
		}
	}
	// systemd first: once the parent hears "ready" it may exit, and the
	// service manager must know the new main pid by then.
	if err := notifyReady(os.Getpid()); err != nil {
		u.log.Warn("telling systemd we are ready failed", "error", err)
	}
	if u.parent == nil {
		return nil
	}
	// What was not offered by now never will be: the parent, reading the
	// offer once it hears ready, then sees at once that none came.
	u.connsIn.closeUnoffered()
	if err := u.parent.report(statusMsg{Status: statusReady, Pid: os.Getpid()}); err != nil {
		return fmt.Errorf("upgrade: can't tell the parent we are ready: %w", err)
	}
	u.log.Debug("ready; parent notified", "parent_pid", u.parent.pid)
	return nil
}

var errStoppedBeforeReady = errors.New("stopped before ready")

// failReady ends a Ready that cannot complete. In a new generation the
// order matters: stop accepting, so that no new connection lands here;
// then tell the parent, which answers its caller at once and keeps
// serving.
func (u *Upgrader) failReady(err error) error {
	u.log.Error("not ready", "error", err)
	if u.parent != nil {
		u.readyFailed.Store(true)
		u.connsIn.done()
		u.Fds.stopAccepting()
		u.Stop()
		<-u.exitC // the registry is closed and our own socket files are gone
		if rerr := u.parent.report(statusMsg{Status: statusError, Pid: os.Getpid(), Error: err.Error()}); rerr != nil {
			u.log.Warn("telling the parent we failed", "error", rerr)
		}
	}
	return fmt.Errorf("upgrade: %w", err)
}

// Fail tells the parent that this new generation cannot serve and why;
// the parent's Upgrade returns a *ChildError carrying msg.Error(), and the
// parent goes on serving. The caller should exit afterwards. Without a
// parent, or after Ready, Fail does nothing. A message too long for a
// status line (64 KiB) is cut.
func (u *Upgrader) Fail(err error) error {
	if u.parent == nil || err == nil {
		return nil
	}
	return u.parent.report(statusMsg{Status: statusError, Pid: os.Getpid(), Error: err.Error()})
}
