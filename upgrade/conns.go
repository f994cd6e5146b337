package upgrade

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// connSendTimeout bounds one Send: a new generation that does not read
// its channel fails the Send, and the connection drains here instead.
const connSendTimeout = 5 * time.Second

// Errors of the connection channel.
var (
	// ErrConnNotAccepted: the new generation did not offer to adopt
	// connections of that key (or speaks no connection channel).
	ErrConnNotAccepted = errors.New("upgrade: the new generation does not adopt connections of this key")
	// ErrConnSenderClosed: Send after Close.
	ErrConnSenderClosed = errors.New("upgrade: connection sender closed")
)

// ConnSender hands established connections to the generation that took
// over: get it with [Upgrader.ConnSender] after a successful Upgrade. It
// is safe for concurrent use.
type ConnSender struct {
	log     hclog.Logger
	mu      sync.Mutex
	conn    *net.UnixConn // nil: no channel, or closed
	accepts map[string]bool
	sent    int
}

// Accepts reports whether the new generation adopts connections of key.
func (s *ConnSender) Accepts(key string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil && s.accepts[key]
}

// Keys lists the keys the new generation adopts, sorted.
func (s *ConnSender) Keys() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.accepts))
	for k := range s.accepts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Send passes conns (1 to MaxConnFds; a *net.TCPConn, say) with state
// (at most MaxConnState bytes, the receiver's own) to the new generation,
// in one message that arrives whole or not at all. On success the new
// generation holds the sockets: close your copies (no FIN is sent while
// it holds them) and never touch them again. On error nothing moved and
// the connections are yours as before. A Send waits at most 5 seconds
// for room on the channel.
func (s *ConnSender) Send(key string, state []byte, conns ...syscall.Conn) error {
	if s == nil {
		return ErrConnNotAccepted
	}
	if len(conns) < 1 || len(conns) > MaxConnFds {
		return fmt.Errorf("upgrade: moving %d connections at once: want 1 to %d", len(conns), MaxConnFds)
	}
	msg, err := encodeConn(key, state)
	if err != nil {
		return fmt.Errorf("upgrade: moving a connection: %w", err)
	}
	if err := s.check(key); err != nil {
		return err
	}
	fds := make([]int, 0, len(conns))
	defer func() {
		for _, fd := range fds {
			closeFd(fd)
		}
	}()
	for _, c := range conns {
		fd, err := dupConn(c)
		if err != nil {
			return fmt.Errorf("upgrade: moving a connection: %w", err)
		}
		fds = append(fds, fd)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkLocked(key); err != nil {
		return err
	}
	s.conn.SetWriteDeadline(time.Now().Add(connSendTimeout))
	if _, _, err := s.conn.WriteMsgUnix(msg, rights(fds), nil); err != nil {
		return fmt.Errorf("upgrade: moving a connection of %.100q to the new generation: %w", key, err)
	}
	s.sent++
	return nil
}

func (s *ConnSender) check(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkLocked(key)
}

func (s *ConnSender) checkLocked(key string) error {
	switch {
	case s.conn == nil && s.accepts == nil:
		return ErrConnNotAccepted
	case s.conn == nil:
		return ErrConnSenderClosed
	case !s.accepts[key]:
		return ErrConnNotAccepted
	}
	return nil
}

// Close tells the new generation that nothing more comes, and closes the
// channel. Connections sent are not affected.
func (s *ConnSender) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	s.conn.SetWriteDeadline(time.Now().Add(connSendTimeout))
	_, _, err := s.conn.WriteMsgUnix(encodeEnd(), nil, nil)
	if cerr := s.conn.Close(); err == nil {
		err = cerr
	}
	s.conn = nil
	s.log.Debug("connection channel closed", "moved_conns", s.sent)
	return err
}

// Sent reports how many Sends succeeded.
func (s *ConnSender) Sent() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// openSender reads the child's hello, which it sent before it reported
// ready, so it is queued by now: a child that sent none (it offers
// nothing, or it is of a build that ignores the channel) gets nothing.
func openSender(c *net.UnixConn, log hclog.Logger) *ConnSender {
	s := &ConnSender{log: log}
	if c == nil {
		return s
	}
	buf := make([]byte, maxConnMsg+1)
	oob := make([]byte, oobSize)
	n, oobn, ok, err := recvNow(c, buf, oob)
	if err == nil && ok {
		var m connMsg
		if m, err = decodeConnMsg(buf[:n], len(parseRights(oob[:oobn]))); err == nil && m.typ != connMsgHello {
			err = fmt.Errorf("a message of type %q before the hello", m.typ)
		}
		closeFds(parseRights(oob[:oobn]))
		if err == nil {
			s.accepts = make(map[string]bool, len(m.keys))
			for _, k := range m.keys {
				s.accepts[k] = true
			}
		}
	}
	if err != nil {
		log.Warn("the new generation's connection offer is unreadable; no connection moves", "error", err)
	}
	if len(s.accepts) == 0 {
		c.Close()
		return s
	}
	s.conn = c
	return s
}

// connReceiver is a new generation's end of the channel.
type connReceiver struct {
	mu          sync.Mutex    // guards the fields below; readMu orders readers
	conn        *net.UnixConn // nil once done
	offered     map[string]bool
	offeredOnce bool // OfferConns or Ready came: no more offers

	readMu   sync.Mutex
	buf, oob []byte
}

// OfferConns tells the parent, before Ready, which keys of connections
// this generation adopts; after Ready, AcceptConn receives those the
// parent sends. Call it at most once; a generation that never calls it
// adopts nothing. Without a parent, or with one that offers no channel
// (an older build, a platform without support), it does nothing, and
// AcceptConn returns io.EOF.
func (u *Upgrader) OfferConns(keys []string) error {
	r := u.connsIn
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.offeredOnce || r.conn == nil {
		return errors.New("upgrade: OfferConns called twice, or after Ready")
	}
	r.offeredOnce = true
	msg, err := encodeHello(keys)
	if err != nil {
		return fmt.Errorf("upgrade: offering connections: %w", err)
	}
	r.conn.SetWriteDeadline(time.Now().Add(connSendTimeout))
	if _, _, err := r.conn.WriteMsgUnix(msg, nil, nil); err != nil {
		return fmt.Errorf("upgrade: offering connections: %w", err)
	}
	r.offered = make(map[string]bool, len(keys))
	for _, k := range keys {
		r.offered[k] = true
	}
	return nil
}

// closeUnoffered closes the channel at Ready if nothing was offered, so
// that the parent sees at once that nothing is wanted.
func (r *connReceiver) closeUnoffered() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.offeredOnce && r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
	r.offeredOnce = true
}

// AcceptConn waits for the next connection the parent moves here, and
// returns its key, the state sent with it, and its descriptors (at least
// one, close-on-exec): make them connections with net.FileConn and close
// the files. It returns io.EOF once the parent has said it is done, or has
// exited. Another error is about one message (its descriptors are closed
// already): call again. Connections of a key not offered are closed and
// skipped.
func (u *Upgrader) AcceptConn() (key string, state []byte, files []*os.File, err error) {
	r := u.connsIn
	if r == nil {
		return "", nil, nil, io.EOF
	}
	r.readMu.Lock()
	defer r.readMu.Unlock()
	for {
		r.mu.Lock()
		c, offered := r.conn, r.offered
		r.mu.Unlock()
		if c == nil {
			return "", nil, nil, io.EOF
		}
		n, oobn, flags, _, err := c.ReadMsgUnix(r.buf, r.oob)
		fds := parseRights(r.oob[:oobn])
		if err != nil || n == 0 {
			closeFds(fds)
			r.done()
			if err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return "", nil, nil, io.EOF
			}
			return "", nil, nil, fmt.Errorf("upgrade: reading the connection channel: %w", err)
		}
		if truncated(flags) {
			closeFds(fds)
			return "", nil, nil, errors.New("upgrade: connection channel: a message was cut")
		}
		m, err := decodeConnMsg(r.buf[:n], len(fds))
		if err != nil {
			closeFds(fds)
			return "", nil, nil, fmt.Errorf("upgrade: connection channel: %w", err)
		}
		switch {
		case m.typ == connMsgEnd:
			r.done()
			return "", nil, nil, io.EOF
		case m.typ != connMsgConn:
			return "", nil, nil, fmt.Errorf("upgrade: connection channel: unexpected message type %q", m.typ)
		case !offered[m.key]:
			closeFds(fds)
			u.log.Warn("closed a moved connection of a key not offered", "key", m.key)
			continue
		}
		files = make([]*os.File, len(fds))
		for i, fd := range fds {
			files[i] = os.NewFile(uintptr(fd), "moved-conn")
		}
		return m.key, append([]byte(nil), m.state...), files, nil
	}
}

// StopAcceptingConns tells the parent that this generation takes no
// more connections: call it once this generation has drained, before it
// exits. A Send the parent makes after it fails, so the parent keeps that
// connection; those sent before are still returned by AcceptConn, which
// then returns io.EOF. (Without it, a connection sent while this process
// exits would die with it.)
func (u *Upgrader) StopAcceptingConns() error {
	r := u.connsIn
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn == nil {
		return nil
	}
	if err := r.conn.CloseRead(); err != nil {
		return fmt.Errorf("upgrade: stopping the connection channel: %w", err)
	}
	return nil
}

// done closes the channel for good.
func (r *connReceiver) done() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
}

// ConnSender returns the sender to the generation that took over in the
// last successful Upgrade: it moves connections of the keys that
// generation offered. Before a successful Upgrade, or when the new
// generation offered nothing, it accepts nothing (never nil).
func (u *Upgrader) ConnSender() *ConnSender {
	if s := u.sender.Load(); s != nil {
		return s
	}
	return &ConnSender{log: u.log}
}

// newConnReceiver takes the channel's descriptor from the handshake.
func newConnReceiver(fd int) (*connReceiver, error) {
	c, err := unixConnFromFd(fd, "upgrade-conns")
	if err != nil {
		return nil, err
	}
	return &connReceiver{conn: c, buf: make([]byte, maxConnMsg+1), oob: make([]byte, oobSize)}, nil
}

// takeConnsChannel opens the channel the handshake names. A version this
// build does not speak, or a channel it cannot open, is closed: the
// parent then moves nothing here.
func (u *Upgrader) takeConnsChannel(ch connsChannel) *connReceiver {
	if ch.Version != connsVersion || ignoreConnsChannel {
		if !ignoreConnsChannel {
			closeFd(ch.FD)
		}
		u.log.Debug("connection channel not used", "version", ch.Version)
		return nil
	}
	r, err := newConnReceiver(ch.FD)
	if err != nil {
		u.log.Warn("connection channel unusable; no connection moves here", "error", err)
		return nil
	}
	return r
}

// ignoreConnsChannel makes this process act as a build from before the
// connection channel (tests set it): the descriptor is left alone.
var ignoreConnsChannel bool
