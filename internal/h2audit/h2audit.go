// Package h2audit is a relay for tests: it passes h2c connections to a
// server and reads the HTTP/2 frames going both ways, to count the streams
// the server refused. A client library cannot tell those from the streams
// it fails itself because it will not start a stream after a GOAWAY; a
// relay on the wire can.
package h2audit

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
)

// HTTP/2 framing (RFC 9113 §4.1).
const (
	frameHeaderLen = 9
	frameHeaders   = 0x1
	frameGoaway    = 0x7
	clientPreface  = 24 // bytes before the client's first frame
	noGoaway       = 1<<32 - 1
)

// Relay accepts h2c connections on a loopback port of its own and relays
// each to the target address.
type Relay struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu      sync.Mutex
	opened  int
	refused int
	goaways int
}

// Counts is what a Relay has seen, on the connections that have ended.
type Counts struct {
	Opened  int // streams the clients opened on the wire
	Refused int // of those, streams above the last stream ID of the server's final GOAWAY
	Goaways int // connections on which the server sent GOAWAY
}

// New starts a relay to target, a host:port.
func New(target string) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{ln: ln, target: target}
	r.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Go(func() { r.relay(c) })
		}
	})
	return r, nil
}

// Addr is the address clients connect to.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Close stops accepting and waits until every relayed connection has
// ended and been counted.
func (r *Relay) Close() {
	r.ln.Close()
	r.wg.Wait()
}

// Counts returns the counts of the connections that have ended.
func (r *Relay) Counts() Counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Counts{Opened: r.opened, Refused: r.refused, Goaways: r.goaways}
}

func (r *Relay) relay(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", r.target)
	if err != nil {
		return
	}
	defer server.Close()
	var streams []uint32
	lastID := uint32(noGoaway)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer client.Close()
		copyFrames(client, server, 0, func(typ byte, _ uint32, payload []byte) {
			if typ == frameGoaway && len(payload) >= 8 {
				lastID = min(lastID, binary.BigEndian.Uint32(payload)&(1<<31-1))
			}
		})
	}()
	copyFrames(server, client, clientPreface, func(typ byte, stream uint32, _ []byte) {
		if typ == frameHeaders && (len(streams) == 0 || stream > streams[len(streams)-1]) {
			streams = append(streams, stream) // a new stream, not trailers
		}
	})
	server.Close()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opened += len(streams)
	if lastID == noGoaway {
		return
	}
	r.goaways++
	for _, id := range streams {
		if id > lastID {
			r.refused++
		}
	}
}

// copyFrames copies HTTP/2 frames from src to dst, after skip bytes of
// preface, and shows each to see.
func copyFrames(dst io.Writer, src io.Reader, skip int, see func(typ byte, stream uint32, payload []byte)) {
	buf := make([]byte, 1<<20)
	if _, err := io.ReadFull(src, buf[:skip]); err != nil {
		return
	}
	if _, err := dst.Write(buf[:skip]); err != nil {
		return
	}
	for {
		if _, err := io.ReadFull(src, buf[:frameHeaderLen]); err != nil {
			return
		}
		n := int(buf[0])<<16 | int(buf[1])<<8 | int(buf[2])
		if frameHeaderLen+n > len(buf) {
			return
		}
		if _, err := io.ReadFull(src, buf[frameHeaderLen:frameHeaderLen+n]); err != nil {
			return
		}
		see(buf[3], binary.BigEndian.Uint32(buf[5:9])&(1<<31-1), buf[frameHeaderLen:frameHeaderLen+n])
		if _, err := dst.Write(buf[:frameHeaderLen+n]); err != nil {
			return
		}
	}
}
