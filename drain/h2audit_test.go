package drain_test

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
)

// streamAudit relays h2c connections to a server and reads the frames
// that pass both ways, to count the streams the server refused: those
// the client opened on the wire above the last stream ID of the server's
// final GOAWAY. A client library cannot tell these from the streams it
// fails itself because it will not start a stream after a GOAWAY;
// the relay can.
type streamAudit struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu      sync.Mutex
	opened  int // streams the clients opened on the wire
	refused int // of those, streams above the final GOAWAY's last stream ID
	goaways int // connections that got a GOAWAY
}

func newStreamAudit(t *testing.T, target string) *streamAudit {
	t.Helper()
	a := &streamAudit{ln: listen(t), target: target}
	a.wg.Go(func() {
		for {
			c, err := a.ln.Accept()
			if err != nil {
				return
			}
			a.wg.Go(func() { a.relay(c) })
		}
	})
	t.Cleanup(a.close)
	return a
}

// close stops the relay and waits until it has counted every connection.
func (a *streamAudit) close() {
	a.ln.Close()
	a.wg.Wait()
}

func (a *streamAudit) addr() string { return a.ln.Addr().String() }

// counts returns the streams opened and refused so far, and the number of
// connections that got a GOAWAY.
func (a *streamAudit) counts() (opened, refused, goaways int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.opened, a.refused, a.goaways
}

func (a *streamAudit) relay(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", a.target)
	if err != nil {
		return
	}
	defer server.Close()
	var streams []uint32
	lastID := uint32(1<<32 - 1) // no GOAWAY yet
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer client.Close()
		copyFrames(client, server, 0, func(typ byte, _ uint32, payload []byte) {
			if typ == 0x7 && len(payload) >= 8 { // GOAWAY
				lastID = min(lastID, binary.BigEndian.Uint32(payload)&(1<<31-1))
			}
		})
	}()
	copyFrames(server, client, 24, func(typ byte, stream uint32, _ []byte) {
		if typ == 0x1 { // HEADERS opens a stream (no trailers here: GETs)
			streams = append(streams, stream)
		}
	})
	server.Close()
	<-done
	a.mu.Lock()
	defer a.mu.Unlock()
	a.opened += len(streams)
	if lastID == 1<<32-1 {
		return
	}
	a.goaways++
	for _, id := range streams {
		if id > lastID {
			a.refused++
		}
	}
}

// copyFrames copies HTTP/2 frames from src to dst, after skip bytes of
// preface, and shows each frame to see.
func copyFrames(dst io.Writer, src io.Reader, skip int, see func(typ byte, stream uint32, payload []byte)) {
	buf := make([]byte, 1<<20)
	if skip > 0 {
		if _, err := io.ReadFull(src, buf[:skip]); err != nil {
			return
		}
		if _, err := dst.Write(buf[:skip]); err != nil {
			return
		}
	}
	for {
		if _, err := io.ReadFull(src, buf[:9]); err != nil {
			return
		}
		n := int(buf[0])<<16 | int(buf[1])<<8 | int(buf[2])
		if 9+n > len(buf) {
			return
		}
		if _, err := io.ReadFull(src, buf[9:9+n]); err != nil {
			return
		}
		see(buf[3], binary.BigEndian.Uint32(buf[5:9])&(1<<31-1), buf[9:9+n])
		if _, err := dst.Write(buf[:9+n]); err != nil {
			return
		}
	}
}
