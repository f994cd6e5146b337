package engine

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// A listener module's Serve that fails at once (a socket option it
// cannot set, a listener of a kind it does not take) must fail the
// start-up, before this generation reports ready: otherwise the old
// generation drains away while nothing serves that listener. Serve gives
// no signal that it runs, so the runtime watches for the first Accept
// on the listener it passed: a module that calls Accept has got past its
// set-up. Modules accept at once, so start-up does not wait for a fixed
// time; one that does not accept (or accepts in a way the runtime cannot
// see) is waited for at most serveStartWindow.
const serveStartWindow = 2 * time.Second

// startListener closes accepting on the first call to Accept.
type startListener struct {
	net.Listener
	once      sync.Once
	accepting chan struct{}
}

func (s *startListener) Accept() (net.Conn, error) {
	s.once.Do(func() { close(s.accepting) })
	return s.Listener.Accept()
}

// Unwrap returns the listener inside, whose Accept it passes on: a
// module can tell a plaintext listener from a wrapped one (the drain's
// Options.OwnTimeouts does).
func (s *startListener) Unwrap() net.Listener { return s.Listener }

// awaitServing waits until every listener module accepts, or returns the
// error of the first whose Serve failed; it then stops the others.
func (l *loaded) awaitServing() error {
	timer := time.NewTimer(serveStartWindow)
	defer timer.Stop()
	var err error
wait:
	for _, li := range l.listeners {
		select {
		case <-li.accepting:
		case e := <-li.served:
			li.served <- e // for the drain
			if e != nil {
				err = fmt.Errorf("listener %q: %s: %w", li.name, li.addr, e)
				break wait
			}
		case <-timer.C:
			break wait
		}
	}
	if err == nil {
		// A Serve that failed right after its first Accept.
		for _, li := range l.listeners {
			select {
			case e := <-li.served:
				li.served <- e
				if e != nil && err == nil {
					err = fmt.Errorf("listener %q: %s: %w", li.name, li.addr, e)
				}
			default:
			}
		}
	}
	if err != nil {
		l.stopServing()
	}
	return err
}

// stopServing stops every listener module at once, after a failed
// start-up, and waits a little for their Serve to return.
func (l *loaded) stopServing() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, li := range l.listeners {
		li.drain(ctx)
	}
	deadline := time.After(serveStartWindow)
	for _, li := range l.listeners {
		if li.served == nil {
			continue
		}
		select {
		case e := <-li.served:
			li.served <- e
		case <-deadline:
			return
		}
	}
}
