package drain

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

// MoveIdle makes the server hand its idle HTTP/1 connections to move
// instead of draining them, from now until Shutdown returns: each
// plaintext HTTP/1 connection that waits for a request (between
// requests, or new before its first) and of whose next request net/http
// has not read a single byte is taken from net/http without closing its
// socket and passed to move. A connection that goes idle later, after
// the response it was busy with, is passed then; while the server moves
// connections, a response no longer asks its client to close the
// connection (see [Server.Shutdown]), unless it is a connection that
// cannot move.
//
// move gets the connection the server accepted (a *net.TCPConn or a
// *net.UnixConn), typically to pass its descriptor to the next
// generation, whose [Server.Adopt] serves it; bytes the client sent that
// net/http did not read wait in the socket's receive buffer and go with
// it. If move returns nil, the connection is move's (move closes it once
// done with it; no FIN is sent while another process holds the socket);
// otherwise it must leave the connection untouched: net/http goes on
// serving it, and it drains as if nothing had happened. Calls of move do
// not overlap; each blocks only its own connection.
//
// While a mover is set, the drain closes no connection that may still
// move, idle or not: one whose client stalls half-way through a request
// is left to the server's ReadHeaderTimeout or ReadTimeout, or to
// Shutdown's deadline. Those that cannot move drain as without a mover.
//
// TLS connections, HTTP/2 connections (h2c included, once they spoke),
// hijacked ones and those accepted from a listener whose connections are
// not a *net.TCPConn or *net.UnixConn never move. Calling MoveIdle again
// replaces move; nil stops the moves.
func (d *Server) MoveIdle(move func(c net.Conn) error) {
	if move == nil {
		d.mover.Store(nil)
		return
	}
	d.moveFailed.Store(false)
	d.mover.Store(&move)
	d.mu.Lock()
	conns := make([]*handoffConn, 0, len(d.conns))
	for c := range d.conns {
		if hc, ok := c.(*handoffConn); ok {
			conns = append(conns, hc)
		}
	}
	d.mu.Unlock()
	// A connection that is not in d.conns yet has not been read: it
	// checks d.mover at its first Read. One that is has either checked
	// it at the start of its blocked Read or is woken here.
	for _, hc := range conns {
		hc.kick()
	}
	d.log.Debug("moving idle connections", "open_conns", len(conns))
}

// moveConn passes c to the mover, one at a time.
func (d *Server) moveConn(c net.Conn) error {
	d.moveMu.Lock()
	defer d.moveMu.Unlock()
	move := d.mover.Load()
	if move == nil {
		return errors.New("drain: connections no longer move")
	}
	if err := (*move)(c); err != nil {
		d.log.Debug("moving an idle connection failed; it stays", "remote", c.RemoteAddr(), "error", err)
		d.moveFailed.Store(true)
		return err
	}
	d.moved.Add(1)
	return nil
}

// Adopt serves c as if the server had just accepted it: a connection
// another server passed to its mover (see [Server.MoveIdle]), whose next
// request, if the client sent it already, waits unread in its socket.
// It fails if the server drains already; c is then still the caller's.
// Adopted connections count in OpenConns, drain like the others, and may
// move again.
func (d *Server) Adopt(c net.Conn) error {
	d.mu.Lock()
	if d.draining.Load() {
		d.mu.Unlock()
		return fmt.Errorf("drain: adopting the connection from %s: the server is draining", c.RemoteAddr())
	}
	ln := d.adopted
	if ln == nil {
		ln = newAdoptListener(c.LocalAddr(), d)
		d.adopted = ln
		_ = d.decideTimeouts(ln, true) // adopted connections are plaintext: no error
		done := d.addListener(ln)
		go func() {
			defer done()
			d.srv.Serve(ln) // returns once Shutdown closed ln and it is empty
			ln.abandon()
		}()
	}
	d.mu.Unlock()
	return ln.push(c)
}

// handoffListener wraps the plaintext connections it accepts so that the
// drain can move them.
type handoffListener struct {
	net.Listener
	d *Server
}

// Accept implements [net.Listener].
func (l *handoffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	wc := l.d.wrapConn(c)
	if l.d.own {
		l.d.accepted(wc)
	}
	return wc, nil
}

// wrapConn wraps c if it is a connection the drain can move.
func (d *Server) wrapConn(c net.Conn) net.Conn {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
		return newHandoffConn(c, d)
	}
	return c
}

// adoptListener is the listener of adopted connections: the server
// serves it besides the ones passed to Serve, and Shutdown closes it.
type adoptListener struct {
	addr net.Addr
	d    *Server

	mu     sync.Mutex
	queue  []net.Conn
	closed bool
	ready  chan struct{} // has a token while queue is not empty or closed
}

func newAdoptListener(addr net.Addr, d *Server) *adoptListener {
	return &adoptListener{addr: addr, d: d, ready: make(chan struct{}, 1)}
}

// push queues c for Accept.
func (l *adoptListener) push(c net.Conn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("drain: adopting the connection from %s: the server is draining", c.RemoteAddr())
	}
	l.queue = append(l.queue, c)
	l.signal()
	return nil
}

// signal wakes Accept. Called with l.mu held.
func (l *adoptListener) signal() {
	select {
	case l.ready <- struct{}{}:
	default:
	}
}

// Accept returns the adopted connections in turn; after Close, it still
// returns those queued before, so that none is lost, then fails.
func (l *adoptListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		if len(l.queue) > 0 {
			c := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			if len(l.queue) > 0 || l.closed {
				l.signal()
			}
			l.mu.Unlock()
			return l.d.adopt(c), nil
		}
		if l.closed {
			l.signal()
			l.mu.Unlock()
			return nil, &net.OpError{Op: "accept", Net: l.addr.Network(), Addr: l.addr, Err: net.ErrClosed}
		}
		l.mu.Unlock()
		<-l.ready
	}
}

// Close implements [net.Listener].
func (l *adoptListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.signal()
	return nil
}

// abandon closes l and the connections still queued, for a server that
// no longer serves l (it was closed by [http.Server.Close]).
func (l *adoptListener) abandon() {
	l.mu.Lock()
	l.closed = true
	queue := l.queue
	l.queue = nil
	l.mu.Unlock()
	for _, c := range queue {
		c.Close()
	}
}

// Addr implements [net.Listener]: the local address of the first
// connection adopted.
func (l *adoptListener) Addr() net.Addr { return l.addr }
