package drain

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultIdleGrace is the IdleGrace used when [Options.IdleGrace] is zero.
//
// It is a trade-off. Closing an idle HTTP/1 connection races a client that
// sends its next request at that moment; the longer a connection has been
// silent, the less likely that is, and a client in a busy loop reuses its
// connection within milliseconds, so it is answered with "Connection:
// close" long before a second passes. A longer grace only lowers the odds
// further for clients that send every few seconds, at the price of an old
// generation that lingers that much longer after its last reply.
const DefaultIdleGrace = time.Second

// DefaultCloseWindow is the CloseWindow used when [Options.CloseWindow] is
// zero: long enough that a client with many idle connections does not see
// them all fail at the same moment, short enough not to delay the end of
// the drain by much.
const DefaultCloseWindow = 250 * time.Millisecond

// maxWait bounds each wait of the drain loop. State changes wake the loop
// at once; the bound only guards against a missed wake-up.
const maxWait = 100 * time.Millisecond

// stallSlack is how late the drain loop may wake before it counts the
// delay as a stall of the process.
const stallSlack = 50 * time.Millisecond

// Options configure a [Server].
type Options struct {
	// IdleGrace is how long an HTTP/1 connection must have been silent,
	// idle between requests or new without a first request, before
	// Shutdown closes it. The time counts from when the drain began as
	// well: a connection that was idle long before gets IdleGrace after
	// the drain begins to be used once more (and answered with
	// "Connection: close"). Zero means [DefaultIdleGrace].
	IdleGrace time.Duration

	// CloseWindow spreads the closes of the connections silent when the
	// drain began over this long after their grace ends, the longest
	// silent first, rather than closing them all at one instant. Zero
	// means [DefaultCloseWindow]; a negative value closes them at once.
	CloseWindow time.Duration

	// CloseSpread spreads the ends of the long-lived connections still
	// open as Shutdown's deadline nears (connections a handler hijacked,
	// or that the server tracks with [Server.Track]) over this long, the
	// oldest first, so that their clients do not all reconnect at one
	// instant. The window closes [DefaultEndMargin] (or a fifth of the
	// drain, if shorter) before the deadline: each connection gets that
	// long to say goodbye. Zero ends them all at once.
	CloseSpread time.Duration

	// Logger receives the drain's progress. Nil discards it.
	Logger hclog.Logger

	// OwnTimeouts has the drain, rather than net/http, enforce the
	// http.Server's ReadHeaderTimeout and IdleTimeout, so that a
	// keep-alive request reads no clock and sets no deadline for them.
	// It applies if the first listener served is plaintext (a
	// *net.TCPListener or *net.UnixListener, or one whose Unwrap method
	// returns one), the server has no ReadTimeout and does not serve
	// unencrypted HTTP/2, and each timeout set is at least two seconds:
	// the first Serve then sets both to zero in the http.Server, and
	// Serve refuses a later listener that is not plaintext (ServeTLS
	// too). A connection is cut between its timeout and a second after
	// it. Otherwise net/http enforces them, as without OwnTimeouts.
	OwnTimeouts bool
}

// Server wraps an [http.Server] so that it can be drained without losing
// requests. Create it with [New] before serving, serve with [Server.Serve]
// or [Server.ServeTLS], and stop with [Server.Shutdown] instead of the
// http.Server's own Shutdown.
//
// Connections that a handler hijacks, such as WebSockets, stay tracked
// until the handler closes them, and are ended as the drain's deadline
// nears (see [OnDeadline]).
//
// Serve wraps each *net.TCPConn and *net.UnixConn it accepts, so that the
// connection can move (see [Server.MoveIdle]): http.Server's ConnState and
// ConnContext hooks, and handlers that hijack, see the wrapper. It has a
// NetConn method, as [crypto/tls.Conn] has, for the connection inside,
// and a SyscallConn method for socket options.
type Server struct {
	// What every request reads comes first, in one cache line: on a core
	// shared with other processes, a request finds the drain's memory
	// cold, and each line it reads is a miss of its own.
	srv *http.Server
	h2  *http.Server // the model of each HTTP/2 connection's own server; nil if HTTP/2 is not ours
	// mover: moving idle connections to another server (move.go,
	// handoff.go); nil unless MoveIdle set one.
	mover atomic.Pointer[func(net.Conn) error]
	// lazy keeps the read deadlines far in the future (deadline.go):
	// sharedKeeper, but in tests.
	lazy *lazyDeadlines
	// The timeouts the drain enforces itself (timeouts.go), if own:
	// decided, under mu, before the http.Server serves; read-only after.
	headerTimeout, idleTimeout time.Duration
	// draining is written under mu, so that serve never records a listener
	// after Shutdown has collected them, and read without it by handlers.
	draining atomic.Bool
	// moveFailed is set once a move failed: responses ask clients to
	// close again rather than keep connections that may not move.
	moveFailed atomic.Bool
	own        bool
	h2c        bool // srv serves HTTP/2 over plain TCP

	ownAsked, ownDecided bool // Options.OwnTimeouts, and whether Serve decided own
	grace                time.Duration
	window               time.Duration // CloseWindow, or 0 for none
	spread               time.Duration // CloseSpread
	log                  hclog.Logger
	wake                 chan struct{} // pokes the drain loop when a connection changes state

	mu         sync.Mutex
	listeners  map[*net.Listener]struct{}
	serving    sync.WaitGroup
	conns      map[net.Conn]*connInfo
	h2conns    map[*h2Conn]*http.Server // each with the server whose Shutdown sends its final GOAWAY
	drainStart time.Time
	stalled    time.Duration // how long the drain was stalled, added to every grace

	// Long-lived connections (hijack.go).
	longLived     map[*longLived]struct{}
	hijacking     int           // Hijack calls under way
	longLivedGone chan struct{} // pokes waitLongLived
	endingAll     bool          // every long-lived connection is ended as it comes
	endBy         time.Time     // the deadline those get

	// Moving idle connections to another server (move.go, handoff.go);
	// mover is in the first line.
	moveMu  sync.Mutex     // one move at a time
	moved   atomic.Int64   // connections moved
	adopted *adoptListener // serves adopted connections; nil until one comes

	unwrappedOnce sync.Once // warns of a connection it cannot time (timeouts.go)

	// tickets is the last ticket a silent connection took (tracker.go).
	// Every request writes it, so it is kept off the cache line of the
	// fields every request reads, such as draining.
	_       [64]byte
	tickets atomic.Uint64
}

// New prepares srv to be drained. It wraps srv.Handler (nil means
// [http.DefaultServeMux]) and chains a hook onto srv.ConnState and
// srv.ConnContext, so set those first and leave them alone afterwards; it
// also reads srv.Protocols to know whether to expect unencrypted HTTP/2.
// New must be called before srv serves. (The h2c package of
// golang.org/x/net hijacks its connections, so the drain sees them as
// hijacked: they keep Shutdown waiting until they close, and get a FIN
// as its deadline nears, without a GOAWAY.)
//
// Unless srv.TLSNextProto is already set, New also has net/http set up its
// HTTP/2 server in srv.TLSNextProto, in a way that lets Shutdown send
// HTTP/2 connections the shutdown notice and then GOAWAY as soon as the
// drain begins (see the package doc). If the caller set TLSNextProto
// (golang.org/x/net/http2.ConfigureServer does), HTTP/2 connections get
// only the final GOAWAY, with their first response once the drain has
// begun, and at the latest when the HTTP/1 connections are gone; their
// clients must retry the streams it refuses.
func New(srv *http.Server, opts Options) *Server {
	d := &Server{
		srv:           srv,
		grace:         opts.IdleGrace,
		window:        opts.CloseWindow,
		spread:        max(0, opts.CloseSpread),
		log:           opts.Logger,
		h2c:           srv.Protocols != nil && srv.Protocols.UnencryptedHTTP2(),
		wake:          make(chan struct{}, 1),
		listeners:     make(map[*net.Listener]struct{}),
		conns:         make(map[net.Conn]*connInfo),
		h2conns:       make(map[*h2Conn]*http.Server),
		longLived:     make(map[*longLived]struct{}),
		longLivedGone: make(chan struct{}, 1),
		ownAsked:      opts.OwnTimeouts,
	}
	d.lazy = sharedKeeper
	if d.grace <= 0 {
		d.grace = DefaultIdleGrace
	}
	switch {
	case d.window == 0:
		d.window = DefaultCloseWindow
	case d.window < 0:
		d.window = 0
	}
	if d.log == nil {
		d.log = hclog.NewNullLogger()
	}
	d.h2 = d.installHTTP2()
	d.install()
	return d
}

// Serve is [http.Server.Serve], except that Shutdown knows ln and closes
// it. It may be called for several listeners; serve them all through the
// drain, since Shutdown cannot close a listener it does not know. For
// HTTPS use [Server.ServeTLS], or pass a listener from [crypto/tls.NewListener]
// whose config lists "h2" in NextProtos, as with http.Server.Serve. After
// Shutdown it returns [http.ErrServerClosed].
func (d *Server) Serve(ln net.Listener) error {
	hl := &handoffListener{Listener: ln, d: d}
	return d.serve(ln, plainListener(ln), func() error { return d.srv.Serve(hl) })
}

// ServeTLS is [http.Server.ServeTLS], except that Shutdown knows ln and
// closes it. HTTP/2 is negotiated as net/http does by default.
func (d *Server) ServeTLS(ln net.Listener, certFile, keyFile string) error {
	return d.serve(ln, false, func() error { return d.srv.ServeTLS(ln, certFile, keyFile) })
}

// serve runs ln's Serve; plain says ln is plaintext (timeouts.go).
func (d *Server) serve(ln net.Listener, plain bool, run func() error) error {
	d.mu.Lock()
	if d.draining.Load() {
		d.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	if err := d.decideTimeouts(ln, plain); err != nil {
		d.mu.Unlock()
		ln.Close()
		return err
	}
	done := d.addListener(ln)
	d.mu.Unlock()
	defer done()

	err := run()
	if d.draining.Load() {
		return http.ErrServerClosed
	}
	return err
}

// addListener records ln, which the caller serves, so that Shutdown
// closes it and waits for its Serve; call done once its Serve returned.
// Called with d.mu held, before the drain begins.
func (d *Server) addListener(ln net.Listener) (done func()) {
	key := &ln
	d.listeners[key] = struct{}{}
	d.serving.Add(1)
	return func() {
		d.mu.Lock()
		delete(d.listeners, key)
		d.mu.Unlock()
		d.serving.Done()
	}
}

// Draining reports whether Shutdown has been called.
func (d *Server) Draining() bool {
	return d.draining.Load()
}

// OpenConns reports how many connections the server holds open: HTTP/1,
// HTTP/2, and those hijacked from it or tracked with Track.
func (d *Server) OpenConns() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.conns) + len(d.longLived)
}

// Shutdown drains the server and returns once every connection is closed.
//
// It begins the HTTP/2 connections' GOAWAY at once (see [New] for when it
// cannot), closes the listeners passed to Serve and waits for Serve to
// return, so that every accepted connection is tracked. Then, until no
// HTTP/1 connection is left, it leaves busy connections alone (their
// replies carry "Connection: close") and closes the silent ones: each
// after IdleGrace of silence, counted from when the drain began at the
// earliest, plus its share of CloseWindow. Finally, once every HTTP/2
// connection has had its final GOAWAY, it calls [http.Server.Shutdown],
// which waits for the HTTP/2 streams to finish.
//
// Long-lived connections (hijacked, or tracked with Track) are waited
// for too; as ctx's deadline nears they are ended, spread over
// CloseSpread (see [OnDeadline]).
//
// If ctx ends first, Shutdown closes every remaining connection with
// [http.Server.Close] and returns an error that says how many it closed and
// wraps ctx.Err().
func (d *Server) Shutdown(ctx context.Context) error {
	start := time.Now()
	d.mu.Lock()
	d.draining.Store(true)
	d.drainStart = start
	listeners := make([]net.Listener, 0, len(d.listeners))
	for ln := range d.listeners {
		listeners = append(listeners, *ln)
	}
	d.mu.Unlock()
	d.goaway()
	d.log.Info("draining http server", "listeners", len(listeners), "open_conns", d.OpenConns())
	endCtx, stopEnding := context.WithCancel(ctx)
	defer stopEnding()
	go d.endLongLived(endCtx)

	for _, ln := range listeners {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			d.log.Warn("closing listener", "addr", ln.Addr(), "error", err)
		}
	}
	if err := d.waitServing(ctx); err != nil {
		return d.forceClose(ctx)
	}
	d.spreadCloses()

	closed, err := d.drainHTTP1(ctx)
	if err != nil {
		return d.forceClose(ctx)
	}
	// A connection may have begun HTTP/2 since the last GOAWAY.
	d.goaway()
	if err := d.waitHTTP2(ctx); err != nil {
		return d.forceClose(ctx)
	}
	// No HTTP/1 connection is left for net/http to cut short; wait for the
	// HTTP/2 ones (and send them GOAWAY, if New could not arrange it
	// earlier).
	if err := d.srv.Shutdown(ctx); err != nil {
		if ctx.Err() != nil {
			return d.forceClose(ctx)
		}
		return fmt.Errorf("drain: shutting down http server: %w", err)
	}
	if err := d.waitLongLived(ctx); err != nil {
		d.mover.Store(nil)
		return d.forceClose(ctx)
	}
	d.mover.Store(nil)
	d.log.Info("http server drained", "elapsed", time.Since(start), "closed_silent", closed, "moved", d.moved.Load())
	return nil
}

// waitServing waits until every Serve call has returned. net/http records
// a connection (StateNew) in its accept loop before accepting the next, so
// after this every accepted connection is tracked.
func (d *Server) waitServing(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		d.serving.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drainHTTP1 returns once no HTTP/1 connection is left, having closed the
// silent ones; it reports how many it closed.
func (d *Server) drainHTTP1(ctx context.Context) (int, error) {
	// Since Go 1.23 a Reset timer never delivers a stale tick.
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	closed := 0
	due := d.drainStart // when the loop should look next: at once
	for {
		now := time.Now()
		if late := now.Sub(due); late > stallSlack {
			d.addStall(late)
		}
		s := d.sweep(now)
		if s.newHTTP2 {
			d.goaway()
		}
		for _, c := range s.silent {
			d.log.Debug("closing silent connection", "remote", c.RemoteAddr())
			c.Close()
		}
		closed += len(s.silent)
		if s.left == 0 {
			return closed, nil
		}
		wait := maxWait
		if !s.next.IsZero() {
			wait = max(0, min(wait, time.Until(s.next)))
		}
		timer.Reset(wait)
		due = time.Now().Add(wait)
		select {
		case <-ctx.Done():
			return closed, ctx.Err()
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// addStall extends every grace by a stall of the process: the drain loop
// woke that much later than it meant to, so everything else on the machine
// (its clients, if they are local) may have stood still as long. A
// connection must not lose its grace to a stall: its client may be about
// to use it.
func (d *Server) addStall(late time.Duration) {
	d.mu.Lock()
	d.stalled += late
	total := d.stalled
	d.mu.Unlock()
	d.log.Debug("drain stalled; extending the grace periods", "stall", late, "total", total)
}

// forceClose closes every connection left and reports how many there were.
func (d *Server) forceClose(ctx context.Context) error {
	d.mu.Lock()
	n := 0
	for _, ci := range d.conns {
		if !ci.closing {
			n++
		}
	}
	d.mu.Unlock()
	d.srv.Close()
	n += d.closeLongLived()
	if n == 0 { // cut short (a second Ctrl-C) with nothing open: nothing lost
		d.log.Info("drain ended early; no connection was open", "reason", ctx.Err())
		return nil
	}
	d.log.Warn("drain ended before connections closed, closed them", "conns", n, "error", ctx.Err())
	return fmt.Errorf("drain: closed %d %s still open when the drain ended: %w", n, plural(n, "connection"), ctx.Err())
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
