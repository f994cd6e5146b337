package drain

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Taking an idle HTTP/1 connection from net/http.
//
// net/http serves a keep-alive connection from one goroutine, which waits
// for the next request in a Read of the connection. Every plaintext
// connection the drain serves is a handoffConn, which sees those Reads.
// A connection may move only while net/http holds no byte of its next
// request: that is when net/http's goroutine calls Read with all of its
// read buffer free (nothing buffered, nothing kept from a read in the
// background) and no Read has returned a byte since the connection went
// idle, or before a new connection's first byte. Bytes the client sends
// from then on wait in the kernel's receive buffer, which moves with the
// descriptor.
//
// A Read that begins while the server moves connections moves it at
// once, instead of reading. A Read already blocked when MoveIdle is
// called is woken by a read deadline in the past: if it comes back with
// a timeout and no byte, the connection moves; if bytes came first, the
// move is off, net/http's own deadline is back before Read returns, and
// the request is served here. Either way a moved connection's Read fails
// with an error net/http takes for a closed connection: it lets go
// without writing, and its Close leaves the descriptor to the mover.

// idleReadSize is the size of net/http's read buffer for a connection
// (bufio's default). Waiting for the next request, net/http reads into
// all of it only if it holds no byte of that request.
const idleReadSize = 4096

// handoffConn.readLen holds up to idleReadSize+1.
const _ = uint16(idleReadSize + 1)

// maxKeptAlive bounds how many responses on one connection, while the
// server moves connections and drains, go out without "Connection:
// close", so that the connection goes idle and moves. A client that
// keeps the connection busy for longer (pipelining, say) is asked to
// close it, as when nothing moves.
const maxKeptAlive = 8

// The flags of handoffConn.fast.
const (
	// fastNoDeadline: net/http's last read deadline was none, and the
	// conn does not wait for its first byte (waitFirst): asking for none
	// again changes nothing, and SetReadDeadline returns at once.
	fastNoDeadline uint32 = 1 << iota
	// fastActive: net/http has read a request's header and serves it
	// (StateActive). The conn cannot move, and a Read changes nothing
	// the drain keeps: net/http's background read while the handler
	// runs, or the handler's reads of the request body, go straight to
	// Conn.
	fastActive
)

// setFast sets or clears flag in c.fast. Called with c.mu held.
func (c *handoffConn) setFast(flag uint32, on bool) {
	old := c.fast.Load()
	v := old &^ flag
	if on {
		v |= flag
	}
	if v != old {
		c.fast.Store(v)
	}
}

// errMoved is what net/http reads from a moved connection.
var errMoved = errors.New("drain: connection moved to another server")

// handoffConn is a plaintext connection net/http serves, which the
// drain can take from it while it waits for a request.
type handoffConn struct {
	net.Conn // *net.TCPConn or *net.UnixConn
	d        *Server
	ci       *connInfo // the drain's record of it; set before net/http serves it

	// What every Read and SetReadDeadline looks at comes first, in one
	// cache line with mu: after a Read waited, its goroutine finds the
	// conn's memory cold.
	mu      sync.Mutex
	served  bool   // net/http serves this very conn (not a TLS conn over it)
	fresh   bool   // not a byte read yet
	idle    bool   // HTTP/1 between requests, no byte read since
	pinned  bool   // never moves: a move failed, hijacked, HTTP/2
	reading bool   // a Read is blocked in Conn
	readLen uint16 // len(p) of that Read, up to idleReadSize+1
	kicked  bool   // MoveIdle set a past read deadline to wake that Read
	moving  bool   // handed to the mover, which has not answered yet
	closed  bool   // Close was called
	pending bool   // Conn lacks the read deadline asked for, a far one (deadline.go)
	// moved: gone, the mover owns the descriptor. Set with mu held; read
	// without it by Write, which net/http calls once for each response.
	moved atomic.Bool
	// fast holds the fast* flags, which let a Read or SetReadDeadline
	// skip the lock. Written with mu held, read without it.
	fast      atomic.Uint32
	waitFirst bool // adopted, no byte read yet: idleUntil applies (adopted.go)
	listed    bool // the deadline keeper knows the conn

	// The second line: what a request's deadlines change.
	deadline time.Time     // the read deadline net/http asked for
	armed    time.Time     // the read deadline set on Conn (deadline.go)
	shift    time.Duration // added to net/http's read deadlines until the request is read (adopted.go)
	// own is the read deadline the drain sets itself, in Unix
	// nanoseconds, 0 if none (timeouts.go).
	own int64

	// The third and fourth lines: the drain's record of the connection,
	// whose state each request changes twice, and its handler wrapper
	// (ci points here once the drain tracks the conn; tracker.go).
	info connInfo

	keptAlive int // responses without "Connection: close" while moving
	// An adopted connection waits for its next request as an idle one
	// does (adopted.go).
	idleUntil time.Time // when it has waited for IdleTimeout; zero: never
	setAt     time.Time // when net/http last set a read deadline

	// Pads the struct to 384 bytes, a size class whose objects begin on
	// a cache line, so that the first 64 bytes are one line, and each
	// next 64 another.
	_ [56]byte
}

func newHandoffConn(c net.Conn, d *Server) *handoffConn {
	return &handoffConn{Conn: c, d: d, fresh: true}
}

// canMove reports whether the conn may move at a Read of n bytes.
// Called with c.mu held.
func (c *handoffConn) canMove(n int) bool {
	if !c.served || c.pinned || c.closed || c.moved.Load() || c.moving {
		return false
	}
	return c.fresh || (c.idle && n == idleReadSize)
}

// Read implements [net.Conn].
func (c *handoffConn) Read(p []byte) (int, error) {
	if c.fast.Load()&fastActive != 0 {
		// While a request is served: not idle, not fresh, so it cannot
		// move (canMove), kick leaves it alone, and its bytes change
		// nothing here. A moved conn is never active.
		return c.Conn.Read(p)
	}
	c.mu.Lock()
	if c.moved.Load() {
		c.mu.Unlock()
		return 0, c.movedError("read")
	}
	if c.canMove(len(p)) && c.d.mover.Load() != nil {
		c.mu.Unlock()
		if c.move() {
			return 0, c.movedError("read")
		}
		c.mu.Lock()
	}
	for {
		c.reading, c.readLen = true, uint16(min(len(p), idleReadSize+1))
		c.mu.Unlock()
		n, err := c.Conn.Read(p)
		c.mu.Lock()
		c.reading = false
		if n > 0 {
			if c.idle && c.d.own {
				// The next request's first bytes: its header's timeout.
				c.setOwn(c.d.headerTimeout)
			}
			c.fresh, c.idle = false, false
			if c.waitFirst {
				c.requestBegins()
			}
		}
		if !c.kicked {
			c.mu.Unlock()
			return n, err
		}
		c.kicked = false
		c.arm(c.effectiveDeadline())
		if n > 0 || !isTimeout(err) || c.expired() {
			// A request began first, or the connection ended, or
			// net/http's own deadline passed: no move.
			c.mu.Unlock()
			return n, err
		}
		c.mu.Unlock()
		if c.move() {
			return 0, c.movedError("read")
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, c.closedError("read")
		}
		// The move failed: read on, as if nothing had happened.
	}
}

// expired reports whether net/http's own read deadline has passed.
// Called with c.mu held.
func (c *handoffConn) expired() bool {
	d := c.effectiveDeadline()
	return !d.IsZero() && !time.Now().Before(d)
}

// kick wakes a Read blocked while the conn could move, so that it moves.
func (c *handoffConn) kick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reading && !c.kicked && c.canMove(int(c.readLen)) {
		c.kicked = true
		c.arm(aLongTimeAgo)
	}
}

// aLongTimeAgo is a read deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// move hands the conn to the mover. It reports whether it moved; if not,
// the conn stays here for good.
func (c *handoffConn) move() bool {
	c.mu.Lock()
	if !c.served || c.pinned || c.closed || c.moved.Load() || c.moving {
		c.mu.Unlock()
		return false
	}
	c.moving = true
	c.mu.Unlock()

	err := c.d.moveConn(c.Conn)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.moving = false
	if err == nil {
		c.moved.Store(true)
		return true
	}
	c.pinned = true
	if c.closed { // closed while the mover tried
		c.Conn.Close()
	}
	return false
}

// setState follows net/http's view of the conn.
func (c *handoffConn) setState(st http.ConnState, proto int32) {
	c.mu.Lock()
	c.setStateLocked(st, proto)
	c.mu.Unlock()
}

// setStateLocked is setState, called with c.mu held.
func (c *handoffConn) setStateLocked(st http.ConnState, proto int32) {
	switch st {
	case http.StateNew:
		c.served = true
	case http.StateActive:
		c.idle, c.shift = false, 0
		c.setFast(fastActive, true)
		if c.d.own {
			c.setOwn(0) // the header is read
		}
	case http.StateIdle:
		c.setFast(fastActive, false)
		// An HTTP/1 connection goes idle after a request went through the
		// drain's handler, which records its protocol. One that goes idle
		// without is HTTP/2 (or, rarely, HTTP/1 that never reached the
		// handler): it stays.
		c.idle = proto == protoHTTP1
		c.pinned = c.pinned || proto != protoHTTP1
		if c.d.own {
			c.setOwn(c.d.idleTimeout)
		}
	case http.StateHijacked:
		c.idle, c.pinned = false, true
		c.setFast(fastActive, false)
		if c.d.own {
			c.setOwn(0)
		}
	}
}

// spared reports whether, while the server moves connections, the drain
// must leave the conn open though net/http reports it new or idle. A conn
// that can move is either about to (net/http is about to Read, or its
// Read was woken to move it, or the mover has it), or net/http has begun
// to read its next request: the bytes are in net/http's buffer, not in
// the socket, where the drain would see them. Closing it would race its
// client's next request. A client that stalls half-way through a request
// is cut by the drain's deadline, or the server's ReadHeaderTimeout.
func (c *handoffConn) spared() bool {
	if c.d.mover.Load() == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.moving || c.kicked || c.served && !c.pinned && !c.moved.Load() && !c.closed
}

// keepAlive reports whether a response on the conn, while the server
// drains, may leave it open so that it moves once idle: not once a move
// failed, which is likely to fail again.
func (c *handoffConn) keepAlive() bool {
	if c.d.mover.Load() == nil || c.d.moveFailed.Load() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.served || c.pinned || c.closed || c.keptAlive >= maxKeptAlive {
		return false
	}
	c.keptAlive++
	return true
}

// Close implements [net.Conn]. It does not close a moved conn, whose
// descriptor belongs to the mover, nor one the mover holds: that one is
// closed if its move fails.
func (c *handoffConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.closedError("close")
	}
	c.closed = true
	c.d.lazy.unlist(c)
	if c.moved.Load() || c.moving {
		return nil
	}
	return c.Conn.Close()
}

// Write implements [net.Conn].
func (c *handoffConn) Write(p []byte) (int, error) {
	if c.moved.Load() {
		return 0, c.movedError("write")
	}
	return c.Conn.Write(p)
}

// SetDeadline implements [net.Conn].
func (c *handoffConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetWriteDeadline implements [net.Conn].
func (c *handoffConn) SetWriteDeadline(t time.Time) error {
	if c.moved.Load() {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

// ReadFrom keeps net/http's sendfile path for responses.
func (c *handoffConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite half-closes the conn, as net/http does before it closes a
// connection whose request it did not read to the end.
func (c *handoffConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// SyscallConn gives access to the socket, for socket options and for
// the drain's look at its receive buffer.
func (c *handoffConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// NetConn returns the connection the drain wraps, as [crypto/tls.Conn]'s
// NetConn does. Reads from it bypass the drain, which then cannot tell
// whether the connection may move; use it for socket options only.
func (c *handoffConn) NetConn() net.Conn {
	return c.Conn
}

func (c *handoffConn) movedError(op string) error { return c.opError(op, errMoved) }

func (c *handoffConn) closedError(op string) error { return c.opError(op, net.ErrClosed) }

// opError is an error as net.Conn's methods return them: net/http takes
// a failed read as a connection its client closed, and lets go quietly.
func (c *handoffConn) opError(op string, err error) error {
	e := &net.OpError{Op: op, Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	if e.Source != nil {
		e.Net = e.Source.Network()
	}
	return e
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
