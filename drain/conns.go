package drain

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// Conns tracks plain TCP connections so that they can be drained. Plain
// TCP has no way to ask a peer to go away, so draining means waiting for
// the connections to close by themselves and closing the rest when the
// time is up.
//
// The zero value is ready to use. A Conns must not be copied after first
// use.
type Conns struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
	empty chan struct{} // closed when the last connection goes; nil unless Drain waits
}

// Track starts tracking c and returns a wrapper to use in its place: its
// Close stops the tracking. It may be called during Drain, which then
// waits for that connection too.
func (cs *Conns) Track(c net.Conn) net.Conn {
	t := &trackedConn{Conn: c, owner: cs}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.conns == nil {
		cs.conns = make(map[*trackedConn]struct{})
	}
	cs.conns[t] = struct{}{}
	return t
}

// Len reports how many tracked connections are open.
func (cs *Conns) Len() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.conns)
}

// Drain waits until every tracked connection is closed. If ctx ends
// first, Drain closes the rest, which interrupts whoever reads or writes
// them, and returns an error that says how many it closed and wraps
// ctx.Err().
func (cs *Conns) Drain(ctx context.Context) error {
	cs.mu.Lock()
	if len(cs.conns) == 0 {
		cs.mu.Unlock()
		return nil
	}
	if cs.empty == nil {
		cs.empty = make(chan struct{})
	}
	empty := cs.empty
	cs.mu.Unlock()

	select {
	case <-empty:
		return nil
	case <-ctx.Done():
	}

	cs.mu.Lock()
	rest := make([]*trackedConn, 0, len(cs.conns))
	for t := range cs.conns {
		rest = append(rest, t)
	}
	cs.mu.Unlock()
	for _, t := range rest {
		t.Close()
	}
	n := len(rest)
	if n == 0 { // the last ones closed by themselves as time ran out
		return nil
	}
	return fmt.Errorf("drain: closed %d %s still open when the drain ended: %w", n, plural(n, "connection"), ctx.Err())
}

func (cs *Conns) forget(t *trackedConn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.conns, t)
	if len(cs.conns) == 0 && cs.empty != nil {
		close(cs.empty)
		cs.empty = nil
	}
}

// trackedConn is a connection whose Close stops its tracking.
type trackedConn struct {
	net.Conn
	owner  *Conns
	forget sync.Once
}

// Close closes the connection and stops tracking it.
func (t *trackedConn) Close() error {
	err := t.Conn.Close()
	t.forget.Do(func() { t.owner.forget(t) })
	return err
}

// CloseWrite half-closes the connection, as a proxy does when one side
// is done sending.
func (t *trackedConn) CloseWrite() error {
	if cw, ok := t.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// NetConn returns the wrapped connection, for instance to let io.Copy
// between two *net.TCPConn use splice. Close the wrapper, not it, or the
// connection stays tracked.
func (t *trackedConn) NetConn() net.Conn {
	return t.Conn
}
