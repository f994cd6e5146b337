package upgrade

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// child is a new generation this process started and is waiting for.
type child struct {
	generation int
	proc       *os.Process
	// sender moves connections to it once it is ready.
	sender *ConnSender
	// alive is the write end of the pipe that tells the child (and its
	// descendants) that this process is still running. Only the kernel
	// closes it, when this process exits.
	alive *os.File

	status chan statusResult     // the child's final status line
	exited chan *os.ProcessState // closed-over result of Wait

	// For a standby (see standby.go): the handshake pipe stays open for
	// the activation; docSent is closed once the first document is
	// written, warm once the child says it stands by.
	handshakeW *os.File
	docSent    chan struct{}
	warm       chan struct{}
	warmOnce   sync.Once

	// sockets are the unix socket files the child reported it created;
	// statusDone is closed once no more can come.
	socketsMu  sync.Mutex
	sockets    []statusMsg
	statusDone chan struct{}
}

type statusResult struct {
	msg statusMsg
	err error
}

// startChild starts exe as generation hs.Generation with the descriptors
// fds (described by hs.Files) and draining (described by hs.Draining).
// connsFd, if not -1, is the child's end of the connection channel. A
// standby (hs.Standby) gets the document and then waits: the handshake
// pipe stays open for its activation.
func startChild(exe string, argv, env []string, hs *handshake, started time.Time, fds, draining []int, connsFd int) (*child, error) {
	if err := checkExecutable(exe); err != nil {
		return nil, &ChildError{Generation: hs.Generation, Reason: ReasonStart, ExitCode: -1, Err: err}
	}
	pipes, err := newChildPipes()
	if err != nil {
		return nil, &ChildError{Generation: hs.Generation, Reason: ReasonStart, ExitCode: -1, Err: err}
	}

	files := []uintptr{0, 1, 2, pipes.handshakeR.Fd(), pipes.statusW.Fd(), pipes.aliveR.Fd()}
	hs.Draining = append(hs.Draining, drainingGen{Pid: os.Getpid(), Generation: hs.Generation - 1, Started: started, FD: 5})
	for i, fd := range draining {
		files = append(files, uintptr(fd))
		hs.Draining[i].FD = len(files) - 1
	}
	for i, fd := range fds {
		files = append(files, uintptr(fd))
		hs.Files[i].FD = len(files) - 1
	}
	if connsFd >= 0 {
		files = append(files, uintptr(connsFd))
		hs.Conns = &connsChannel{Version: connsVersion, FD: len(files) - 1}
	}
	doc, err := json.Marshal(hs)
	if err != nil {
		pipes.closeAll()
		return nil, &ChildError{Generation: hs.Generation, Reason: ReasonStart, ExitCode: -1, Err: err}
	}

	version := strconv.Itoa(protocolVersion)
	if hs.Standby {
		version = standbyVersion
	}
	env = append(env, envHandshake+"="+version)
	pid, _, err := syscall.StartProcess(exe, argv, &syscall.ProcAttr{Env: env, Files: files})
	pipes.closeChildEnds()
	if err != nil {
		pipes.closeParentEnds()
		return nil, &ChildError{Generation: hs.Generation, Reason: ReasonStart, ExitCode: -1,
			Err: fmt.Errorf("starting %s: %w", exe, err)}
	}
	proc, err := os.FindProcess(pid)
	if err != nil { // cannot happen on unix
		pipes.closeParentEnds()
		return nil, &ChildError{Generation: hs.Generation, Pid: pid, Reason: ReasonStart, ExitCode: -1, Err: err}
	}

	c := &child{
		generation: hs.Generation,
		proc:       proc,
		alive:      pipes.aliveW,
		status:     make(chan statusResult, 1),
		exited:     make(chan *os.ProcessState, 1),
		statusDone: make(chan struct{}),
		docSent:    make(chan struct{}),
		warm:       make(chan struct{}),
	}
	if hs.Standby {
		c.handshakeW = pipes.handshakeW
	}
	go func() {
		// A child that dies before reading gets EPIPE here; its exit
		// status tells the story, so the write error adds nothing.
		pipes.handshakeW.Write(doc)
		if !hs.Standby {
			pipes.handshakeW.Close()
		}
		close(c.docSent)
	}()
	go c.readStatus(pipes.statusR)
	go func() {
		// Reaps the child whenever it exits, also long after a handover,
		// so that it never lingers as a zombie.
		state, _ := proc.Wait()
		c.exited <- state
	}()
	return c, nil
}

// readStatus reads the child's socket notices, then its final status.
func (c *child) readStatus(r *os.File) {
	defer close(c.statusDone)
	defer r.Close()
	sr := newStatusReader(r)
	for n := 0; ; n++ {
		msg, err := sr.next()
		if err == nil && msg.Status == statusStandby {
			c.warmOnce.Do(func() { close(c.warm) })
			continue
		}
		if err == nil && msg.Status == statusSocket {
			if n >= maxSocketNotices {
				c.status <- statusResult{err: fmt.Errorf("more than %d socket notices", maxSocketNotices)}
				return
			}
			c.socketsMu.Lock()
			c.sockets = append(c.sockets, msg)
			c.socketsMu.Unlock()
			continue
		}
		c.status <- statusResult{msg, err}
		return
	}
}

// removeSockets removes the unix socket files the child created, once it
// is gone: only a file that is still the one it reported (same inode), so
// that a file anyone made since, or one the child inherited, stays.
func (c *child) removeSockets() {
	select {
	case <-c.statusDone:
	case <-time.After(time.Second): // a descendant holds the pipe: take what came
	}
	c.socketsMu.Lock()
	defer c.socketsMu.Unlock()
	for _, s := range c.sockets {
		if info, err := os.Lstat(s.Path); err == nil && info.Mode()&os.ModeSocket != 0 && fileIno(info) == s.Ino {
			os.Remove(s.Path)
		}
	}
}

// wait blocks until the child is ready, fails, or runs out of time. On
// every failure the child has been killed (if need be) and reaped.
func (c *child) wait(timeout time.Duration, stop <-chan struct{}) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()

	select {
	case res := <-c.status:
		switch {
		case res.err == nil && res.msg.Status == statusReady:
			return nil
		case res.err == nil: // statusError
			// Answer at once. The child has stopped accepting and may
			// still finish requests it accepted: it gets as long as the
			// upgrade could have taken to exit by itself, then it is
			// killed; it is reaped either way.
			go func() {
				c.reap(timeout)
				c.removeSockets() // if it could not
			}()
			return c.failure(ReasonReported, func(e *ChildError) { e.Message = res.msg.Error })
		case errors.Is(res.err, io.EOF):
			// Closed without a word: it is exiting, or closed the pipe
			// and went on; the timeout covers the latter.
			select {
			case state := <-c.exited:
				return c.exitFailure(state)
			case <-timer.C:
				c.reap(0)
				return c.failure(ReasonTimeout, func(e *ChildError) { e.Timeout = timeout })
			case <-stop:
				c.reap(0)
				return c.failure(ReasonStopped, nil)
			}
		default:
			c.reap(0)
			return c.failure(ReasonProtocol, func(e *ChildError) { e.Err = res.err })
		}
	case <-timer.C:
		c.reap(0)
		return c.failure(ReasonTimeout, func(e *ChildError) { e.Timeout = timeout })
	case <-stop:
		c.reap(0)
		return c.failure(ReasonStopped, nil)
	}
}

// reap waits up to grace for the child to exit by itself, then kills it
// with its descendants, and returns once it has been reaped.
func (c *child) reap(grace time.Duration) {
	if grace > 0 {
		select {
		case state := <-c.exited:
			c.exited <- state
			return
		case <-time.After(grace):
		}
	}
	killTree(c.proc)
	state := <-c.exited
	c.exited <- state
}

// handedOver describes the child that took over, with a channel closed
// when it exits.
func (c *child) handedOver() Child {
	exited := make(chan struct{})
	var state *os.ProcessState
	go func() {
		state = <-c.exited
		c.exited <- state
		close(exited)
	}()
	return Child{Pid: c.proc.Pid, Generation: c.generation, Exited: exited,
		ExitState: func() *os.ProcessState {
			select {
			case <-exited:
				return state
			default:
				return nil
			}
		}}
}

func (c *child) failure(reason FailureReason, fill func(*ChildError)) *ChildError {
	e := &ChildError{Generation: c.generation, Pid: c.proc.Pid, Reason: reason, ExitCode: -1}
	if fill != nil {
		fill(e)
	}
	// Every failure has the child gone by now; its exit says the rest.
	select {
	case state := <-c.exited:
		c.exited <- state
		if reason != ReasonTimeout && reason != ReasonStopped && reason != ReasonProtocol {
			describeExit(e, state)
		}
	default:
	}
	c.alive.Close()
	if reason != ReasonReported { // the child is gone by now
		c.removeSockets()
	}
	return e
}

func (c *child) exitFailure(state *os.ProcessState) *ChildError {
	c.exited <- state
	return c.failure(ReasonExited, nil)
}

func describeExit(e *ChildError, state *os.ProcessState) {
	if state == nil {
		return
	}
	e.ExitCode = state.ExitCode()
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = ws.Signal().String()
	}
}

// checkExecutable gives a clear error for the common ways an upgrade
// cannot start: the binary was deleted, or lost its execute bit.
func checkExecutable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("executable: %w", err)
	}
	if info.IsDir() {
		return fmt.Errorf("executable %s is a directory", path)
	}
	if info.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("executable %s is not executable (mode %s)", path, info.Mode().Perm())
	}
	return nil
}

// childPipes are the three pipes of the handshake.
type childPipes struct {
	handshakeR, handshakeW *os.File // parent -> child: the handshake document
	statusR, statusW       *os.File // child -> parent: ready or error
	aliveR, aliveW         *os.File // EOF on aliveR: the parent exited
}

func newChildPipes() (*childPipes, error) {
	var p childPipes
	var err error
	if p.handshakeR, p.handshakeW, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("handshake pipe: %w", err)
	}
	if p.statusR, p.statusW, err = os.Pipe(); err != nil {
		p.closeAll()
		return nil, fmt.Errorf("status pipe: %w", err)
	}
	if p.aliveR, p.aliveW, err = os.Pipe(); err != nil {
		p.closeAll()
		return nil, fmt.Errorf("liveness pipe: %w", err)
	}
	return &p, nil
}

func (p *childPipes) closeChildEnds() {
	for _, f := range []*os.File{p.handshakeR, p.statusW, p.aliveR} {
		if f != nil {
			f.Close()
		}
	}
}

func (p *childPipes) closeParentEnds() {
	for _, f := range []*os.File{p.handshakeW, p.statusR, p.aliveW} {
		if f != nil {
			f.Close()
		}
	}
}

func (p *childPipes) closeAll() {
	p.closeChildEnds()
	p.closeParentEnds()
}
