package drain

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
)

// pipeConn is a net.Conn whose reads come from r and whose writes go to w.
type pipeConn struct {
	net.Conn // nil: only Read and Write are used
	r        io.Reader
	w        io.Writer
}

func (c pipeConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c pipeConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c pipeConn) Close() error                { return nil }

func frame(typ, flags byte, stream uint32, payload []byte) []byte {
	return append(appendFrameHeader(nil, len(payload), typ, flags, stream), payload...)
}

// serverFrames is what an HTTP/2 server might write: SETTINGS first, then
// frames of all sizes, some longer than a write buffer.
func serverFrames() [][]byte {
	return [][]byte{
		frame(0x4, 0, 0, make([]byte, 30)),                  // SETTINGS
		frame(0x8, 0, 0, []byte{0, 1, 0, 0}),                // WINDOW_UPDATE
		frame(0x4, flagAck, 0, nil),                         // SETTINGS ACK
		frame(0x1, 0x4, 1, bytes.Repeat([]byte("h"), 40)),   // HEADERS
		frame(0x0, 0, 1, bytes.Repeat([]byte("d"), 16384)),  // DATA
		frame(0x0, 0x1, 1, bytes.Repeat([]byte("e"), 5000)), // DATA, END_STREAM
		frame(0x1, 0x5, 3, bytes.Repeat([]byte("i"), 3)),    // HEADERS, END_STREAM
		frame(framePing, flagAck, 0, []byte("12345678")),    // PING ACK
		frame(0x0, 0x1, 5, nil),                             // empty DATA
		frame(0x3, 0, 7, []byte{0, 0, 0, 8}),                // RST_STREAM
		frame(0x0, 0x1, 9, bytes.Repeat([]byte("f"), 70000)[:16384]),
	}
}

// TestNoticeGoesBetweenTwoFrames writes a server's frames through an
// h2Conn in chunks of many sizes, asks for the notice at every point, and
// checks that it comes out whole, once, between two frames and after the
// first, with everything else as it was.
func TestNoticeGoesBetweenTwoFrames(t *testing.T) {
	want := bytes.Join(serverFrames(), nil)
	for _, chunk := range []int{1, 2, 5, 9, 10, 17, 4096, 20000, len(want)} {
		// The notice before each of the first chunks, then at 50 more
		// points spread over the rest.
		last := len(want) / chunk
		step := max(1, last/50)
		next := func(at int) int {
			if at < 40 {
				return at + 1
			}
			return at + step
		}
		for at := 0; at <= last+1; at = next(at) {
			var out bytes.Buffer
			c := newH2Conn(pipeConn{w: &out}, false)
			for i, off := 0, 0; off < len(want); i++ {
				if i == at && !c.sendNotice() {
					t.Fatal("sendNotice refused before any GOAWAY")
				}
				end := min(off+chunk, len(want))
				if n, err := c.Write(want[off:end]); n != end-off || err != nil {
					t.Fatalf("Write: %d, %v; want %d, nil", n, err, end-off)
				}
				off = end
			}
			if at*chunk >= len(want) && !c.sendNotice() {
				t.Fatal("sendNotice refused before any GOAWAY")
			}
			checkNotice(t, fmt.Sprintf("chunks of %d, notice before chunk %d", chunk, at), out.Bytes(), want, c.ping)
		}
	}
}

// checkNotice checks that got is want with the notice for ping inserted
// once at a frame boundary after the first frame.
func checkNotice(t *testing.T, what string, got, want []byte, ping [8]byte) {
	t.Helper()
	notice := append(frame(frameGoaway, 0, 0, []byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0}), frame(framePing, 0, 0, ping[:])...)
	i := bytes.Index(got, notice)
	if i < 0 {
		t.Fatalf("%s: no notice in what was written", what)
	}
	if rest := got[i+len(notice):]; bytes.Contains(rest, notice) {
		t.Fatalf("%s: the notice was written twice", what)
	}
	if !bytes.Equal(append(bytes.Clone(got[:i]), got[i+len(notice):]...), want) {
		t.Fatalf("%s: the server's bytes changed around the notice", what)
	}
	boundary, first := 0, true
	for boundary < i {
		boundary += frameHeaderLen + (int(want[boundary])<<16 | int(want[boundary+1])<<8 | int(want[boundary+2]))
		first = false
	}
	if boundary != i || first {
		t.Fatalf("%s: notice at byte %d, not between two frames after the first", what, i)
	}
}

// TestNoNoticeAfterTheServersGoaway checks that a notice still waiting for
// a frame boundary is dropped if the server's own GOAWAY comes first: a
// notice after it would raise the last stream ID, which RFC 9113 forbids.
func TestNoNoticeAfterTheServersGoaway(t *testing.T) {
	var out bytes.Buffer
	c := newH2Conn(pipeConn{w: &out}, false)
	settings := frame(0x4, 0, 0, nil)
	data := frame(0x0, 0, 1, make([]byte, 100))
	goaway := frame(frameGoaway, 0, 0, []byte{0, 0, 0, 1, 0, 0, 0, 0})
	c.Write(settings)
	c.Write(data[:50]) // in the middle of a frame
	c.sendNotice()
	// The rest of the DATA frame is a boundary: the notice goes there.
	c.Write(append(data[50:], goaway...))
	checkNotice(t, "notice pending mid-frame", out.Bytes(), bytes.Join([][]byte{settings, data, goaway}, nil), c.ping)

	out.Reset()
	c = newH2Conn(pipeConn{w: &out}, false)
	c.Write(settings)
	c.Write(goaway)
	if c.sendNotice() {
		t.Fatal("sendNotice after the server's GOAWAY reported success")
	}
	select {
	case <-c.answered:
	default:
		t.Fatal("after the server's GOAWAY the drain still waits for an answer")
	}
	if got, want := out.Bytes(), append(bytes.Clone(settings), goaway...); !bytes.Equal(got, want) {
		t.Fatalf("wrote % x, want % x", got, want)
	}
}

// TestPingAnswerIsSwallowed reads a client's bytes through an h2Conn with
// reads of many sizes: the server gets them all but the answer to the
// notice's PING, in order, and the drain learns of the answer.
func TestPingAnswerIsSwallowed(t *testing.T) {
	for _, tls := range []bool{true, false} {
		for _, size := range []int{1, 2, 8, 9, 10, 16, 17, 18, 100, 1 << 16} {
			c := newH2Conn(nil, tls)
			c.Conn = pipeConn{w: io.Discard}
			c.Write(frame(0x4, 0, 0, nil))
			c.sendNotice()
			answer := frame(framePing, flagAck, 0, c.ping[:])
			other := frame(framePing, flagAck, 0, []byte("otherack"))
			parts := [][]byte{
				frame(0x4, 0, 0, make([]byte, 12)),
				frame(0x1, 0x5, 1, bytes.Repeat([]byte("h"), 30)),
				other,
				frame(0x0, 0x1, 3, bytes.Repeat([]byte("d"), 20000)),
				answer,
				frame(framePing, 0, 0, c.ping[:]), // a PING, not an answer
				frame(0x7, 0, 0, make([]byte, 8)),
			}
			var in, want []byte
			if tls {
				in = []byte(clientPreface)
			}
			for _, p := range parts {
				in = append(in, p...)
				if !bytes.Equal(p, answer) {
					want = append(want, p...)
				}
			}
			c.Conn = pipeConn{r: bytes.NewReader(in), w: io.Discard}
			var got []byte
			buf := make([]byte, size)
			for {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("tls %v, reads of %d: the server read %d bytes, want %d without the answer", tls, size, len(got), len(want))
			}
			select {
			case <-c.answered:
			default:
				t.Fatalf("tls %v, reads of %d: the answer was not noticed", tls, size)
			}
		}
	}
}

func TestBogusPrefaceIsAnError(t *testing.T) {
	c := newH2Conn(pipeConn{r: bytes.NewReader([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))}, true)
	if _, err := c.Read(make([]byte, 9)); !errors.Is(err, errBogusPreface) {
		t.Fatalf("Read: %v, want %v", err, errBogusPreface)
	}
}

// TestFramesPassWithoutAllocating checks that following the frames costs
// no allocation per frame, either way.
func TestFramesPassWithoutAllocating(t *testing.T) {
	f := frame(0x0, 0, 1, make([]byte, 1000))
	c := newH2Conn(pipeConn{w: io.Discard}, false)
	if n := testing.AllocsPerRun(100, func() { c.Write(f) }); n != 0 {
		t.Errorf("Write: %v allocations per frame, want 0", n)
	}
	r := bytes.NewReader(nil)
	c = newH2Conn(pipeConn{r: r}, false)
	hdr, payload := make([]byte, frameHeaderLen), make([]byte, 1000)
	if n := testing.AllocsPerRun(100, func() {
		r.Reset(f)
		io.ReadFull(c, hdr)
		io.ReadFull(c, payload)
	}); n != 0 {
		t.Errorf("Read: %v allocations per frame, want 0", n)
	}
}
