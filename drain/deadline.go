package drain

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Read deadlines given to the connection only when they draw near.
//
// net/http sets a connection's read deadline six times for each
// keep-alive request. With the http module's timeouts, two of those are
// in the future: the idle wait's (IdleTimeout, two minutes) once the
// response is out, and the header's (ReadHeaderTimeout, ten seconds)
// once the next request's first bytes are in; a bare server without
// timeouts sets none. Each is a timer the runtime adds, and removes when
// the deadline is lifted again, almost always long before it ends: the
// client's next request ends the idle wait, the header comes whole in
// the first Read.
//
// So the wrapper keeps the deadline net/http asks for, and gives it to
// the connection inside at once only if it is none (no timer to arm), if
// it is near, or if the connection needs it exact (an adopted one, one
// woken to move). A far one waits in the wrapper. The deadline keeper
// looks at the connections that hold one every [lazyPeriod], and
// gives each deadline that ends before its next look and a
// [lazyMargin] after to its connection, which then ends a Read at that
// very deadline, as if it had been set at once; a deadline is near if it
// ends before then. A keep-alive request arms no timer and reads no
// clock for it, and a connection idle for IdleTimeout is closed on time.
//
// The keeper is one goroutine for the process, shared by every Server,
// running only while some connection holds a far deadline. On Linux it
// waits for a timerfd in the network poller rather than on a runtime
// timer: while any runtime timer waits, the Go scheduler reads the clock
// each time a goroutine parks, several times a request, which a bare
// server without timeouts does not (half a percent of a small request's
// CPU on one core, in a perf profile); and a
// goroutine asleep in a system call would hold the processor until the
// runtime's monitor takes it back, milliseconds later with GOMAXPROCS=1.
// Were the keeper to run late, by more than lazyMargin (the process
// stalled), a deadline would end its Read that much late.

// The deadline keeper's rhythm. The margin must be at least the period:
// a deadline set just before a look, with the horizon of the look
// before, ends at least a margin after that earlier look's next one.
const (
	lazyPeriod = time.Second // how often the keeper looks
	lazyMargin = time.Second // how long before its end it gives a deadline
)

// lazyDeadlines is the deadline keeper.
type lazyDeadlines struct {
	// horizon: a deadline at or before it (Unix nanoseconds) is near,
	// and given at once. MaxInt64 while the keeper does not run.
	horizon atomic.Int64
	running atomic.Bool
	// last is when the keeper last looked (Unix nanoseconds), 0 while it
	// does not run: the coarse clock of the drain's own timeouts.
	last atomic.Int64
	// period and margin are lazyPeriod and lazyMargin but in tests,
	// whose servers get keepers of their own.
	period, margin time.Duration

	mu    sync.Mutex
	conns map[*handoffConn]struct{} // connections that held a far deadline, until they close
}

// sharedKeeper keeps the far deadlines of every Server's connections:
// one goroutine and one timerfd for the process, however many servers it
// runs (a thousand listeners make a thousand Servers).
var sharedKeeper = newLazyDeadlines(lazyPeriod, lazyMargin)

func newLazyDeadlines(period, margin time.Duration) *lazyDeadlines {
	l := &lazyDeadlines{period: period, margin: margin, conns: make(map[*handoffConn]struct{})}
	l.horizon.Store(math.MaxInt64)
	return l
}

// far reports whether t, a read deadline, can wait for the keeper,
// which it starts if it does not run.
func (l *lazyDeadlines) far(t time.Time) bool {
	h := l.horizon.Load()
	if h == math.MaxInt64 {
		if !l.running.CompareAndSwap(false, true) {
			return false // stopping, or starting in another goroutine
		}
		now := time.Now()
		l.last.Store(now.UnixNano())
		h = now.Add(l.period + l.margin).UnixNano()
		l.horizon.Store(h)
		go l.keep()
	}
	return t.UnixNano() > h
}

// clock is the time of the keeper's last look, in Unix nanoseconds: at
// most a period behind the clock while the keeper runs (more only if the
// process stalled), and the clock itself while it does not.
func (l *lazyDeadlines) clock() int64 {
	if t := l.last.Load(); t != 0 {
		return t
	}
	return time.Now().UnixNano()
}

// list records that c holds a far deadline. Called with c.mu held.
func (l *lazyDeadlines) list(c *handoffConn) {
	if c.listed {
		return
	}
	c.listed = true
	l.mu.Lock()
	l.conns[c] = struct{}{}
	l.mu.Unlock()
}

// unlist forgets c, which closed or moved. Called with c.mu held.
func (l *lazyDeadlines) unlist(c *handoffConn) {
	if !c.listed {
		return
	}
	c.listed = false
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// keep gives far deadlines to their connections as they draw near, until
// none is left.
func (l *lazyDeadlines) keep() {
	t := newTicker(l.period) // far gave the horizon of the first period
	defer t.stop()
	var conns []*handoffConn
	for {
		t.wait()
		// A deadline set from now on until the next look, a period away,
		// waits only if it ends at least a margin after that look; this
		// look gives every one that ends before.
		now := time.Now()
		l.last.Store(now.UnixNano())
		horizon := now.Add(l.period + l.margin)
		l.horizon.Store(horizon.UnixNano())
		conns = l.snapshot(conns[:0])
		waiting := l.give(conns, horizon)
		clear(conns) // no reference kept to closed connections while asleep
		if waiting == 0 {
			// None left: from now on every deadline is given at once,
			// and any that came to wait meanwhile is given now.
			l.last.Store(0)
			l.horizon.Store(math.MaxInt64)
			l.running.Store(false)
			l.give(l.snapshot(conns[:0]), time.Unix(0, math.MaxInt64))
			return
		}
	}
}

func (l *lazyDeadlines) snapshot(conns []*handoffConn) []*handoffConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		conns = append(conns, c)
	}
	return conns
}

// give gives each of conns its far deadline if it ends at or before
// horizon, and returns how many still wait.
func (l *lazyDeadlines) give(conns []*handoffConn, horizon time.Time) int {
	waiting := 0
	for _, c := range conns {
		c.mu.Lock()
		if c.pending && !c.closed && !c.moved.Load() {
			if d := c.effectiveDeadline(); d.After(horizon) {
				waiting++
			} else {
				c.arm(d)
			}
		}
		c.mu.Unlock()
	}
	return waiting
}

// SetReadDeadline implements [net.Conn]. While a move's past deadline
// wakes a Read, the deadline asked for is kept and set after it.
func (c *handoffConn) SetReadDeadline(t time.Time) error {
	if t.IsZero() && c.fast.Load()&fastNoDeadline != 0 {
		// Three of a keep-alive request's five, when the drain enforces
		// the timeouts: the deadline in effect stays what it is.
		return nil
	}
	c.mu.Lock()
	c.deadline = t
	c.setFast(fastNoDeadline, t.IsZero() && !c.waitFirst)
	if c.waitFirst { // only then is setAt used: no clock read for each request
		c.setAt = time.Now()
	}
	err := c.apply()
	c.mu.Unlock()
	return err
}

// apply gives Conn the read deadline in effect, net/http's or the
// drain's own, whichever ends first: at once if it is none, if it is
// near, or if the connection needs it exact; a far one waits for the
// keeper. Called with c.mu held.
func (c *handoffConn) apply() error {
	if c.waitFirst || c.shift != 0 || c.kicked || c.closed || c.moved.Load() {
		return c.setReadDeadlineNow()
	}
	t := c.deadline
	if c.own != 0 {
		t = c.effectiveDeadline()
	}
	var err error
	switch {
	case t.IsZero():
		c.pending = false
		if !c.armed.IsZero() {
			c.armed = t
			err = c.Conn.SetReadDeadline(t)
		}
	case c.armed.IsZero() && c.d.lazy.far(t):
		c.pending = true // the keeper gives it to Conn when it draws near
		if !c.listed {   // most keep-alive requests find it listed already
			c.d.lazy.list(c)
		}
		if !c.d.lazy.running.Load() {
			// The keeper stopped after this call read its horizon, and
			// its last look may have missed the conn: give it now.
			err = c.arm(t)
		}
	default:
		err = c.arm(t)
	}
	return err
}

// setReadDeadlineNow gives Conn the read deadline asked for at once: for
// an adopted connection, which moves net/http's deadlines; for a Read
// woken to move; for a closed conn, whose error the caller gets. Called
// with c.mu held.
func (c *handoffConn) setReadDeadlineNow() error {
	if c.kicked || c.moved.Load() {
		return nil
	}
	return c.arm(c.effectiveDeadline())
}

// arm sets Conn's read deadline to t, unless it has it. Called with c.mu
// held, or before the conn is served.
func (c *handoffConn) arm(t time.Time) error {
	c.pending = false
	if t.Equal(c.armed) {
		return nil
	}
	c.armed = t
	return c.Conn.SetReadDeadline(t)
}
