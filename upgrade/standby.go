package upgrade

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"
)

// A standby is the next generation started ahead of its upgrade (see
// "Standby" in the package documentation): a process of the executable
// that has gone through the runtime's and the packages' initialisation,
// has inherited this generation's descriptors and made listeners of them,
// and waits in New for the activation document, which carries the
// payload. An upgrade then costs what the program does after New, not a
// process start.

// standbyVersion is FLIPD_UPGRADE's value for a standby. A binary that
// does not know standbys refuses it (it is not a version number), so it
// never serves on a document that has no payload yet.
const standbyVersion = "standby-1"

// standbyRetry bounds how soon a standby that died (or was refused, by a
// binary that does not know standbys) is started again: the delay doubles
// with each such death in a row, up to standbyRetryMax.
const (
	standbyRetry    = time.Second
	standbyRetryMax = time.Minute
)

// standby is a started standby, owned by run until an upgrade takes it.
type standby struct {
	c     *child
	conns *net.UnixConn
	// exe and exeInfo identify the binary it was started from: one
	// replaced on disk since means an upgrade must start the new one.
	exe     string
	exeInfo os.FileInfo
	// fdsVersion is the registry's version it inherited.
	fdsVersion uint64
	// dead is closed once its process has exited.
	dead chan struct{}
}

// startStandby starts a standby with this generation's descriptors.
func (u *Upgrader) startStandby(elders []drainingGen, draining []int) (*standby, error) {
	defer func() {
		for _, fd := range draining {
			closeFd(fd)
		}
	}()
	// The binary is identified before it is started: if it is replaced
	// in between, the next upgrade sees the new one and starts that.
	info, err := os.Stat(u.exe)
	if err != nil {
		return nil, fmt.Errorf("upgrade: standby: executable: %w", err)
	}
	sb := &standby{exe: u.exe, exeInfo: info, dead: make(chan struct{})}
	c, conns, version, err := u.launch(u.exe, nil, true, elders, draining)
	if err != nil {
		return nil, err
	}
	sb.fdsVersion = version
	sb.c, sb.conns = c, conns
	go func() {
		state := <-c.exited
		c.exited <- state
		close(sb.dead)
	}()
	u.log.Debug("standby started", "standby_pid", c.proc.Pid)
	return sb, nil
}

// unusable says why an upgrade cannot take sb, or "" if it can. (The
// older generations it was told of can only have exited since: this one
// serves, so none is added.)
func (sb *standby) unusable(u *Upgrader) string {
	select {
	case <-sb.dead:
		return "it has exited"
	default:
	}
	info, err := os.Stat(sb.exe)
	if err != nil {
		return "its executable is gone: " + err.Error()
	}
	if !os.SameFile(info, sb.exeInfo) || info.Size() != sb.exeInfo.Size() || !info.ModTime().Equal(sb.exeInfo.ModTime()) {
		return "the executable changed on disk since it started"
	}
	u.Fds.mu.Lock()
	changed := u.Fds.version != sb.fdsVersion
	u.Fds.mu.Unlock()
	if changed {
		return "the descriptors changed since it started"
	}
	return ""
}

// activate sends sb its payload, once it stands by. An error means
// nothing reached it: the caller discards it and starts a new generation
// instead. A standby still starting is waited for (up to timeout), as
// long as a new process would take; one that exits meanwhile (a binary
// that does not know standbys refuses at once) is not taken.
func (sb *standby) activate(payload []byte, timeout time.Duration, verify bool) error {
	doc, err := json.Marshal(activationDoc{Payload: payload, Verify: verify})
	if err != nil {
		return err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-sb.c.warm:
	case <-sb.dead:
		return errors.New("it has exited")
	case <-timer.C:
		return fmt.Errorf("it did not stand by within %s", timeout)
	}
	<-sb.c.docSent // written before warm could come
	_, err = sb.c.handshakeW.Write(doc)
	if !verify || err != nil {
		sb.c.handshakeW.Close()
	}
	return err
}

// tellVerdict sends the verdict to a standby activated with verify: yes,
// or the pipe's end for no.
func tellVerdict(c *child, ok bool) error {
	defer c.handshakeW.Close()
	if !ok {
		return nil
	}
	doc, err := json.Marshal(verdictDoc{Verified: true})
	if err != nil {
		return err
	}
	_, err = c.handshakeW.Write(doc)
	return err
}

// discard kills sb at once and reaps it in the background. It is killed
// before its pipes close, so that it does not take their end for its
// parent's and say so; and with one signal, not killTree's stop-then-kill,
// so that this process may exit right after (a standby has not started
// anything of its own: it waits in New).
func (sb *standby) discard() {
	sb.c.proc.Kill()
	go func() {
		sb.c.handshakeW.Close()
		if sb.conns != nil {
			sb.conns.Close()
		}
		<-sb.dead
		sb.c.alive.Close()
	}()
}

// standbyWait is a standby's wait for its activation.
type standbyWait struct {
	in  *os.File
	dec *json.Decoder
}

// errDismissed is a standby's end when no activation comes.
var errDismissed = errors.New("upgrade: standby: the parent went away (or started another) before it needed this process")

// wait blocks until the activation arrives, and returns it. Unless it
// asks for a verdict, the pipe is closed.
func (w *standbyWait) wait() (activationDoc, error) {
	var act activationDoc
	err := w.dec.Decode(&act)
	if err != nil || !act.Verify {
		w.in.Close()
	}
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return act, errDismissed
		}
		return act, fmt.Errorf("upgrade: standby: activation: %w", err)
	}
	return act, nil
}

// errNotVerified is Verified's error when the parent said no.
var errNotVerified = errors.New("upgrade: the parent did not verify the upgrade (UpgradeOptions.Verify): this generation must not serve")

// Verified returns once the parent has verified the upgrade that started
// this generation (UpgradeOptions.Verify), at once if there was nothing
// to verify: a standby activated with Verify may prepare, but not serve,
// before it returns nil. An error means the parent called the upgrade
// off (or went away): the program must stop without serving. Ready
// waits for it too.
func (u *Upgrader) Verified() error {
	if u.verdict == nil {
		return nil
	}
	u.verdictOnce.Do(func() {
		defer u.verdict.in.Close()
		var v verdictDoc
		if err := u.verdict.dec.Decode(&v); err != nil || !v.Verified {
			u.verdictErr = errNotVerified
		}
	})
	return u.verdictErr
}

// standByUntilActivated is what New does in a standby: it prepares the
// inherited sockets, tells the parent it stands by, and waits.
func (u *Upgrader) standByUntilActivated(w *standbyWait) error {
	u.Fds.prepare()
	// What was allocated to start and prepare is collected now, while
	// there is time, not in the middle of the upgrade.
	runtime.GC()
	if err := u.parent.notice(statusMsg{Status: statusStandby, Pid: os.Getpid()}); err != nil {
		return fmt.Errorf("upgrade: standby: telling the parent: %w", err)
	}
	act, err := w.wait()
	if err != nil {
		if !errors.Is(err, errDismissed) {
			u.parent.report(statusMsg{Status: statusError, Pid: os.Getpid(), Error: err.Error()})
		}
		return err
	}
	if act.Verify {
		u.verdict = w
	}
	u.payload = act.Payload
	u.started = time.Now()
	return nil
}

// standbyRefresh is how long a standby replaced because the descriptors
// changed waits, so that a burst of changes starts one process.
const standbyRefresh = 100 * time.Millisecond

// standbyState is run's: the standby, if any, and when to start one.
type standbyState struct {
	enabled  bool
	cur      *standby
	due      <-chan time.Time
	failures int // deaths in a row before standing by
	gone     chan *standby
}

type standbyRequest struct {
	on   bool
	done chan struct{}
}

// StandbyInfo describes the standby of this generation.
type StandbyInfo struct {
	// Pid is the standby's process, 0 if there is none.
	Pid int
	// Warm says it has initialised and waits for an upgrade.
	Warm bool
}

// EnableStandby switches the standby (Options.Standby) on or off: on, one
// is started once this generation is ready (at once if it is); off, the
// one there is stops.
func (u *Upgrader) EnableStandby(on bool) {
	r := standbyRequest{on: on, done: make(chan struct{})}
	select {
	case u.standbyC <- r:
		<-r.done
	case <-u.exitC:
	}
}

// Standby describes this generation's standby.
func (u *Upgrader) Standby() StandbyInfo {
	reply := make(chan StandbyInfo, 1)
	select {
	case u.standbyInfoC <- reply:
		return <-reply
	case <-u.exitC:
		return StandbyInfo{}
	}
}

func (u *Upgrader) standbyInfo() StandbyInfo {
	sb := u.sb.cur
	if sb == nil {
		return StandbyInfo{}
	}
	return StandbyInfo{Pid: sb.c.proc.Pid, Warm: sb.warmed()}
}

// warmed reports whether sb has said it stands by.
func (sb *standby) warmed() bool {
	select {
	case <-sb.c.warm:
		return true
	default:
		return false
	}
}

// standbyDelay is the wait before the next standby after n deaths in a
// row.
func standbyDelay(n int) time.Duration {
	d := standbyRetry
	for i := 1; i < n && d < standbyRetryMax; i++ {
		d *= 2
	}
	return min(d, standbyRetryMax)
}

// standbyParentWait bounds how long a new generation waits for its
// parent to exit before it starts its standby: not at once, so that the
// start does not compete with the handover for the CPU, nor later than
// this while the parent drains long connections.
const standbyParentWait = time.Second

// scheduleAfterReady arranges for the standby of a generation that has
// just become ready: once its parent has exited, or after
// standbyParentWait.
func (u *Upgrader) scheduleAfterReady() {
	if !u.sb.enabled || u.sb.cur != nil || u.parentExited == nil {
		u.scheduleStandby(0)
		return
	}
	due := make(chan time.Time, 1)
	go func() {
		t := time.NewTimer(standbyParentWait)
		defer t.Stop()
		select {
		case <-u.parentExited:
		case <-t.C:
		case <-u.exitC:
		}
		due <- time.Now()
	}()
	u.sb.due = due
}

// scheduleStandby arranges for a standby to start after d, if standbys
// are on and there is none.
func (u *Upgrader) scheduleStandby(d time.Duration) {
	if !u.sb.enabled || u.sb.cur != nil {
		return
	}
	u.sb.due = time.After(d)
}

// spawnStandby starts a standby now.
func (u *Upgrader) spawnStandby() {
	if !u.sb.enabled || u.sb.cur != nil {
		return
	}
	elders, draining, err := u.dupElders()
	if err == nil {
		var sb *standby
		if sb, err = u.startStandby(elders, draining); err == nil {
			u.sb.cur = sb
			go func() {
				<-sb.dead
				select {
				case u.sb.gone <- sb:
				case <-u.exitC:
				}
			}()
			return
		}
	}
	u.sb.failures++
	delay := standbyDelay(u.sb.failures)
	u.log.Warn("no standby; upgrades start a new process meanwhile", "error", err, "retry_in", delay)
	u.scheduleStandby(delay)
}

// dropStandby discards the standby, if there is one.
func (u *Upgrader) dropStandby() {
	u.sb.due = nil
	if u.sb.cur != nil {
		u.sb.cur.discard()
		u.sb.cur = nil
	}
}

// takeStandby activates sb for req if it may be taken; otherwise it
// discards it and returns nil (the caller starts a new process).
func (u *Upgrader) takeStandby(sb *standby, req upgradeRequest) (*child, *net.UnixConn) {
	if sb == nil {
		return nil, nil
	}
	why := sb.unusable(u)
	if why == "" {
		if err := sb.activate(req.payload, req.timeout, req.verify != nil); err != nil {
			why = err.Error()
		}
	}
	if why != "" {
		u.log.Info("standby not taken; starting a new process", "standby_pid", sb.c.proc.Pid, "reason", why)
		sb.discard()
		return nil, nil
	}
	return sb.c, sb.conns
}
