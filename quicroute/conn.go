package quicroute

import (
	"net"
	"os"
	"sync"
	"time"
)

// packet is one datagram on its way into this generation's Transport.
type packet struct {
	data []byte
	addr net.Addr
}

// genConn is the net.PacketConn under one generation's quic.Transport. It
// reads what the router hands it (packets from the shared socket while
// this generation is the newest, and packets forwarded by newer ones), and
// writes straight to the shared socket, which every generation keeps open.
// It is deliberately not an OOBCapablePacketConn: quic-go would then read
// the socket's descriptor itself and bypass the router.
type genConn struct {
	out   net.PacketConn // the shared UDP socket (this process's copy)
	in    chan packet
	done  chan struct{}
	close sync.Once

	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{} // closed when the deadline changes
}

func newGenConn(out net.PacketConn) *genConn {
	return &genConn{out: out, in: make(chan packet, 1024), done: make(chan struct{}), wake: make(chan struct{})}
}

// deliver queues a packet for the Transport; when the queue is full the
// packet is dropped, as a full socket buffer would.
func (c *genConn) deliver(p packet) bool {
	select {
	case c.in <- p:
		return true
	case <-c.done:
		return false
	default:
		return false
	}
}

func (c *genConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		deadline, wake := c.deadline, c.wake
		c.mu.Unlock()
		if p, ok, err := c.wait(deadline, wake); ok {
			if err != nil {
				return 0, nil, err
			}
			return copy(b, p.data), p.addr, nil
		}
	}
}

// wait waits for a packet until the deadline; ok is false when the
// deadline changed meanwhile.
func (c *genConn) wait(deadline time.Time, wake <-chan struct{}) (p packet, ok bool, err error) {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return p, true, os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case p = <-c.in:
		return p, true, nil
	case <-c.done:
		return p, true, net.ErrClosed
	case <-timeout:
		return p, true, os.ErrDeadlineExceeded
	case <-wake:
		return p, false, nil
	}
}

func (c *genConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	return c.out.WriteTo(b, addr)
}

// Close stops reads; the shared socket stays open (the router owns it).
func (c *genConn) Close() error {
	c.close.Do(func() { close(c.done) })
	return nil
}

func (c *genConn) LocalAddr() net.Addr { return c.out.LocalAddr() }

func (c *genConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *genConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	close(c.wake)
	c.wake = make(chan struct{})
	return nil
}

func (c *genConn) SetWriteDeadline(t time.Time) error { return c.out.SetWriteDeadline(t) }

// SetReadBuffer and SetWriteBuffer size the shared socket's buffers, as
// quic-go asks at start.
func (c *genConn) SetReadBuffer(n int) error {
	if s, ok := c.out.(interface{ SetReadBuffer(int) error }); ok {
		return s.SetReadBuffer(n)
	}
	return nil
}

func (c *genConn) SetWriteBuffer(n int) error {
	if s, ok := c.out.(interface{ SetWriteBuffer(int) error }); ok {
		return s.SetWriteBuffer(n)
	}
	return nil
}

var _ net.PacketConn = (*genConn)(nil)
