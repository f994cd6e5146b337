package upgrade

import (
	"io"
	"os"
	"sync"
	"time"
)

// parent is this process's side of the handshake with the generation that
// started it.
type parent struct {
	pid        int
	generation int

	mu     sync.Mutex
	status *os.File // nil once ready or an error has been reported
}

func (p *parent) report(msg statusMsg) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status == nil {
		return nil
	}
	err := writeStatus(p.status, msg)
	p.status.Close()
	p.status = nil
	return err
}

// notice sends a line that is not the final status (a "socket" notice);
// it does nothing once the final status was sent.
func (p *parent) notice(msg statusMsg) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status == nil {
		return nil
	}
	return writeStatus(p.status, msg)
}

// elder is an older generation that may still be draining. Its liveness
// pipe reaches EOF when it exits.
type elder struct {
	pid        int
	generation int
	started    time.Time
	pipe       *os.File
	exited     chan struct{}
}

// watchElder starts watching the liveness pipe at fd. gone receives the
// elder once it has exited; its pipe is closed by then.
func watchElder(d drainingGen, gone chan<- *elder) *elder {
	setNonblock(d.FD) // so that Read parks on the poller, not a thread
	e := &elder{
		pid:        d.Pid,
		generation: d.Generation,
		started:    d.Started,
		pipe:       os.NewFile(uintptr(d.FD), "upgrade-liveness"),
		exited:     make(chan struct{}),
	}
	go func() {
		// Nobody ever writes: the read returns when the last write end,
		// held only by that generation, closes at its exit.
		io.Copy(io.Discard, e.pipe)
		close(e.exited) // before the pipe closes: dupElders reads a failed dup by it
		e.pipe.Close()
		gone <- e
	}()
	return e
}
