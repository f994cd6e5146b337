package tunnel

import (
	"crypto/rand"
	"encoding/binary"
)

// WebSocket framing (RFC 6455 §5.2), as far as a tunnel needs it: where
// each frame ends, so that a direction can stop between two frames, and
// whether a Close frame went by. Payloads are never looked at.

// Opcodes the tunnel cares about.
const (
	opClose = 0x8
)

// closeGoingAway is the status code of the Close frame a tunnel sends
// when its generation ends it: 1001, the endpoint is going away.
const closeGoingAway = 1001

// frames follows the frame boundaries of one direction of a WebSocket.
// The zero value stands at a boundary, before the first frame.
type frames struct {
	hdr    [14]byte // the current frame's header bytes seen so far
	hdrLen int      // how many of hdr are filled; 0 between frames
	remain uint64   // payload bytes of the current frame still to come
	closed bool     // a Close frame went by
}

// atBoundary reports whether the bytes seen so far end with a whole frame.
func (f *frames) atBoundary() bool { return f.hdrLen == 0 && f.remain == 0 }

// headerLen is the length of the current frame's header, once its first
// two bytes are known; 2 before.
func (f *frames) headerLen() int {
	if f.hdrLen < 2 {
		return 2
	}
	n := 2
	switch f.hdr[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if f.hdr[1]&0x80 != 0 { // masked: a 4-byte key follows
		n += 4
	}
	return n
}

// toBoundary is how many bytes may be read without going past the end of
// the current frame (at least 1, unless at a boundary, where it is 0).
// Reading that many, or fewer, and feeding them to advance never crosses
// into the next frame.
func (f *frames) toBoundary() uint64 {
	if f.atBoundary() {
		return 0
	}
	if f.hdrLen > 0 {
		return uint64(f.headerLen() - f.hdrLen)
	}
	return f.remain
}

// advance moves over p, the next bytes of the stream.
func (f *frames) advance(p []byte) {
	for len(p) > 0 {
		if f.remain > 0 {
			n := min(uint64(len(p)), f.remain)
			f.remain -= n
			p = p[n:]
			continue
		}
		// In a header (or at the start of one).
		need := f.headerLen() - f.hdrLen
		n := copy(f.hdr[f.hdrLen:f.hdrLen+min(need, len(p))], p)
		f.hdrLen += n
		p = p[n:]
		if f.hdrLen < f.headerLen() {
			continue // the length's size is known once two bytes are in
		}
		f.startPayload()
	}
}

// startPayload is called once the current frame's header is complete.
func (f *frames) startPayload() {
	switch l := f.hdr[1] & 0x7f; l {
	case 126:
		f.remain = uint64(binary.BigEndian.Uint16(f.hdr[2:4]))
	case 127:
		f.remain = binary.BigEndian.Uint64(f.hdr[2:10])
	default:
		f.remain = uint64(l)
	}
	if f.hdr[0]&0x0f == opClose {
		f.closed = true
	}
	f.hdrLen = 0
}

// closeFrame is a Close frame with status code: unmasked, as a server
// sends it, or masked with a random key, as a client must.
func closeFrame(code uint16, masked bool) []byte {
	payload := binary.BigEndian.AppendUint16(nil, code)
	if !masked {
		return append([]byte{0x80 | opClose, byte(len(payload))}, payload...)
	}
	var key [4]byte
	rand.Read(key[:])
	frame := append([]byte{0x80 | opClose, 0x80 | byte(len(payload))}, key[:]...)
	for i, b := range payload {
		frame = append(frame, b^key[i%4])
	}
	return frame
}
