package drain_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Frame is what the raw client kept of one frame the server sent.
type h2Frame struct {
	typ      http2.FrameType
	streamID uint32
	ack      bool
	endStrm  bool
	lastID   uint32        // GOAWAY
	code     http2.ErrCode // GOAWAY, RST_STREAM
	ping     [8]byte       // PING
	status   string        // HEADERS
	err      error         // the read failed: the connection is over
}

// rawH2 is an HTTP/2 client that writes and reads frames by hand, so a
// test sees every frame the server sends, in order, and decides when to
// answer a PING.
type rawH2 struct {
	t      *testing.T
	conn   net.Conn
	fr     *http2.Framer
	enc    *hpack.Encoder
	hbuf   bytes.Buffer
	frames chan h2Frame
}

// dialRawH2 opens an HTTP/2 connection to addr, over TLS (ALPN "h2") or
// in cleartext with prior knowledge, and exchanges SETTINGS.
func dialRawH2(t *testing.T, addr string, useTLS bool, pool *x509.CertPool) *rawH2 {
	t.Helper()
	var conn net.Conn
	var err error
	if useTLS {
		conn, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}})
		if err == nil && conn.(*tls.Conn).ConnectionState().NegotiatedProtocol != "h2" {
			t.Fatal("the server did not negotiate h2")
		}
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := &rawH2{t: t, conn: conn, frames: make(chan h2Frame, 64)}
	c.fr = http2.NewFramer(conn, conn)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.hbuf)
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	go c.readLoop()
	f := c.next("the server's SETTINGS", func(f h2Frame) bool { return f.typ == http2.FrameSettings && !f.ack })
	_ = f
	if err := c.fr.WriteSettingsAck(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *rawH2) readLoop() {
	defer close(c.frames)
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.frames <- h2Frame{err: err}
			return
		}
		got := h2Frame{typ: f.Header().Type, streamID: f.Header().StreamID}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			got.ack = f.IsAck()
		case *http2.PingFrame:
			got.ack, got.ping = f.IsAck(), f.Data
		case *http2.GoAwayFrame:
			got.lastID, got.code = f.LastStreamID, f.ErrCode
		case *http2.RSTStreamFrame:
			got.code = f.ErrCode
		case *http2.MetaHeadersFrame:
			got.status, got.endStrm = f.PseudoValue("status"), f.StreamEnded()
		case *http2.DataFrame:
			got.endStrm = f.StreamEnded()
		}
		c.frames <- got
	}
}

// next returns the next frame that match accepts, skipping others; it
// fails the test if the connection ends first or after 10s.
func (c *rawH2) next(what string, match func(h2Frame) bool) h2Frame {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok || f.err != nil {
				c.t.Fatalf("waiting for %s: the connection ended: %v", what, f.err)
			}
			if match(f) {
				return f
			}
		case <-timeout:
			c.t.Fatalf("waiting for %s: nothing after 10s", what)
		}
	}
}

// get opens stream id with a GET of path.
func (c *rawH2) get(id uint32, path string) {
	c.t.Helper()
	c.hbuf.Reset()
	for _, hf := range []hpack.HeaderField{
		{Name: ":method", Value: "GET"},
		{Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: "drain.test"},
		{Name: ":path", Value: path},
	} {
		c.enc.WriteField(hf)
	}
	err := c.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: c.hbuf.Bytes(), EndStream: true, EndHeaders: true,
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

// waitClosed waits until the server has closed the connection, failing
// on a frame other than the ones skip accepts.
func (c *rawH2) waitClosed(skip func(h2Frame) bool) {
	c.t.Helper()
	for f := range c.frames {
		if f.err != nil {
			if !errors.Is(f.err, io.EOF) {
				c.t.Errorf("the connection ended with %v, want EOF", f.err)
			}
			return
		}
		if !skip(f) {
			c.t.Errorf("unexpected frame %v on stream %d after the final GOAWAY", f.typ, f.streamID)
		}
	}
}
