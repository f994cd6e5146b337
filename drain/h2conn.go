package drain

import (
	"bytes"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
)

// HTTP/2 framing (RFC 9113 §4.1): every frame starts with a 9-byte header,
// a 24-bit payload length, a type, flags and a 31-bit stream ID.
const (
	frameHeaderLen = 9
	framePing      = 0x6
	frameGoaway    = 0x7
	flagAck        = 0x1
	pingLen        = 8
	maxStreamID    = 1<<31 - 1
)

// clientPreface is what an HTTP/2 client sends before its first frame.
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

var errBogusPreface = errors.New("drain: http2: the client did not begin with the HTTP/2 connection preface")

// h2Conn stands between net/http's HTTP/2 server and one of its
// connections, so that the drain can send the shutdown notice of RFC 9113
// §6.8 that net/http does not: a GOAWAY naming the largest stream ID,
// which refuses no stream, and a PING. The client answers the PING once it
// has seen the notice, so every stream it opened before is on the wire
// ahead of the answer; only then does the drain let the server send its
// own, final GOAWAY, which names the last stream it has read.
//
// To place the notice between two of the server's frames, h2Conn follows
// the frame boundaries in what the server writes; to keep the PING's
// answer from the server, which did not send the PING, it follows those
// in what the client sends. Everything else passes through as it is.
type h2Conn struct {
	net.Conn // what net/http serves: a *tls.Conn, or the TCP conn of h2c

	// The write side. net/http's HTTP/2 server writes from one goroutine
	// at a time; sendNotice writes from another, so wmu orders them.
	wmu     sync.Mutex
	wHdr    [frameHeaderLen]byte
	wHdrN   int    // bytes of the current frame's header written so far
	wLeft   int    // bytes of the current frame's payload still to come
	wFirst  bool   // the server has written its first frame (its SETTINGS)
	wGoaway bool   // the server has written a GOAWAY: too late for a notice
	pending []byte // the notice, waiting for the next frame boundary

	// The read side, used only by the server's reading goroutine.
	rBuf     [len(clientPreface)]byte
	rHave    int   // bytes of a frame header (or preface) collected in rBuf
	rOff     int   // where the held bytes still to pass on begin in rBuf
	rPass    int   // held bytes still to pass on
	rLeft    int   // bytes of the current frame's payload still to pass on
	rPreface bool  // the preface is still to be read and checked (TLS)
	rErr     error // an error to return once the held bytes are passed on

	ping     [pingLen]byte // the notice's PING payload; set before noticed
	noticed  atomic.Bool   // the notice is sent or pending
	draining atomic.Bool   // the drain has begun for this connection
	answered chan struct{} // closed once the drain need not wait any longer
	answer   sync.Once
	final    chan struct{} // closed once the drain has had the final GOAWAY sent
	closed   chan struct{}
	close    sync.Once
}

// newH2Conn wraps c; prefaceUnread says that the client's preface is still
// to be read from c, which is so over TLS (for h2c net/http has read it).
func newH2Conn(c net.Conn, prefaceUnread bool) *h2Conn {
	return &h2Conn{
		Conn:     c,
		rPreface: prefaceUnread,
		answered: make(chan struct{}),
		final:    make(chan struct{}),
		closed:   make(chan struct{}),
	}
}

// h2TLSConn is an h2Conn over TLS. The HTTP/2 server learns from
// ConnectionState that the connection is secure, checks its TLS version
// and cipher suite, and fills in Request.TLS.
type h2TLSConn struct {
	*h2Conn
	tls *tls.Conn
}

// ConnectionState returns the TLS connection's state.
func (c h2TLSConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// tracked returns the connection that net/http tracks, and reports to
// the ConnState hook, in place of the h2Conn.
func (c *h2Conn) tracked() net.Conn { return c.Conn }

// Close closes the connection and ends any wait for the notice's answer.
func (c *h2Conn) Close() error {
	c.close.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// sendNotice writes the shutdown notice and its PING at the next frame
// boundary: at once if the server is not in the middle of a frame, else
// from the server's own Write that completes the frame. It reports false
// if no notice can be sent, because the server has sent GOAWAY already.
func (c *h2Conn) sendNotice() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wGoaway {
		c.giveUp()
		return false
	}
	for i := range c.ping {
		c.ping[i] = byte(rand.Uint32())
	}
	c.noticed.Store(true)
	notice := make([]byte, 0, 2*frameHeaderLen+16)
	notice = appendFrameHeader(notice, 8, frameGoaway, 0, 0)
	notice = append(notice, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0) // last stream 2^31-1, NO_ERROR
	notice = appendFrameHeader(notice, pingLen, framePing, 0, 0)
	notice = append(notice, c.ping[:]...)
	if c.wFirst && c.wHdrN == 0 && c.wLeft == 0 {
		// A failed write means a broken connection; the server finds out.
		c.Conn.Write(notice)
		return true
	}
	c.pending = notice
	return true
}

// giveUp ends the wait for the notice's answer: it will not come.
func (c *h2Conn) giveUp() {
	c.answer.Do(func() { close(c.answered) })
}

func appendFrameHeader(b []byte, length int, typ, flags byte, stream uint32) []byte {
	return append(b, byte(length>>16), byte(length>>8), byte(length), typ, flags,
		byte(stream>>24), byte(stream>>16), byte(stream>>8), byte(stream))
}

// Write writes the server's bytes, and the pending notice at the first
// frame boundary among them.
func (c *h2Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	at := c.scanWrite(p)
	if at < 0 {
		return c.Conn.Write(p)
	}
	notice := c.pending
	c.pending = nil
	var n int
	if at > 0 {
		var err error
		if n, err = c.Conn.Write(p[:at]); err != nil {
			return n, err
		}
	}
	if _, err := c.Conn.Write(notice); err != nil {
		return n, err
	}
	m, err := c.Conn.Write(p[at:])
	return n + m, err
}

// scanWrite follows the frames in p, the server's next bytes, and returns
// where in p the pending notice goes, or -1 if none is pending or p has
// no frame boundary that is not too late for it.
func (c *h2Conn) scanWrite(p []byte) int {
	at := -1
	if c.pending != nil && c.wFirst && c.wHdrN == 0 && c.wLeft == 0 {
		at = 0
	}
	for i := 0; i < len(p); {
		if c.wLeft > 0 {
			n := min(c.wLeft, len(p)-i)
			i += n
			c.wLeft -= n
		} else {
			n := copy(c.wHdr[c.wHdrN:], p[i:])
			i += n
			c.wHdrN += n
			if c.wHdrN < frameHeaderLen {
				break
			}
			c.wHdrN = 0
			c.wLeft = int(c.wHdr[0])<<16 | int(c.wHdr[1])<<8 | int(c.wHdr[2])
			if c.wHdr[3] == frameGoaway {
				c.wGoaway = true
				if at < 0 && c.pending != nil {
					// The server says goodbye first: a notice after it
					// would raise its last stream ID, which RFC 9113
					// forbids.
					c.pending = nil
					c.giveUp()
				}
			}
		}
		if c.wLeft == 0 && c.wHdrN == 0 {
			c.wFirst = true
			if at < 0 && c.pending != nil {
				at = i
			}
		}
	}
	return at
}

// Read passes on what the client sends, except the answer to the
// notice's PING.
func (c *h2Conn) Read(p []byte) (int, error) {
	for {
		if c.rPass > 0 {
			n := copy(p, c.rBuf[c.rOff:c.rOff+c.rPass])
			c.rOff += n
			c.rPass -= n
			return n, nil
		}
		if c.rErr != nil {
			err := c.rErr
			c.rErr = nil
			return 0, err
		}
		if c.rLeft > 0 {
			n, err := c.Conn.Read(p[:min(len(p), c.rLeft)])
			c.rLeft -= n
			return n, err
		}
		if len(p) == 0 {
			return 0, nil
		}
		// Collect the whole preface, or frame header, before passing it on.
		need := frameHeaderLen
		switch {
		case c.rPreface:
			need = len(clientPreface)
		case c.rHave >= frameHeaderLen && c.isAnswer():
			need += pingLen
		}
		if c.rHave < need {
			n, err := c.Conn.Read(c.rBuf[c.rHave:need])
			c.rHave += n
			if err != nil {
				if c.rHave < need {
					return 0, err // what was collected waits for the next Read
				}
				c.rErr = err
			}
			continue
		}
		switch {
		case c.rPreface:
			if !bytes.Equal(c.rBuf[:need], []byte(clientPreface)) {
				return 0, errBogusPreface
			}
			// net/http's HTTP/2 server was told it has been read.
			c.rPreface, c.rHave = false, 0
			continue
		case need > frameHeaderLen && [pingLen]byte(c.rBuf[frameHeaderLen:need]) == c.ping:
			// The answer to the notice's PING: the server never sent it.
			c.rHave = 0
			c.giveUp()
			continue
		}
		length := int(c.rBuf[0])<<16 | int(c.rBuf[1])<<8 | int(c.rBuf[2])
		c.rOff, c.rPass = 0, c.rHave
		c.rLeft = length - (c.rHave - frameHeaderLen)
		c.rHave = 0
	}
}

// isAnswer reports whether the frame header in rBuf may be the answer to
// the notice's PING; its payload tells.
func (c *h2Conn) isAnswer() bool {
	h := c.rBuf[:frameHeaderLen]
	return h[3] == framePing && h[4]&flagAck != 0 && h[0] == 0 && h[1] == 0 && h[2] == pingLen &&
		h[5]|h[6]|h[7]|h[8] == 0 && c.noticed.Load()
}
