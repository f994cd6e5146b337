package quicroute

// verdict says where one datagram read from the shared socket goes.
type verdict int

const (
	drop    verdict = iota // malformed, too short, or an unknown short-header ID
	local                  // this generation's Transport
	forward                // another generation's, named by gen
)

// Header bits (RFC 9000 section 17).
const (
	longHeaderBit = 0x80
	fixedBit      = 0x40
	maxCIDLen     = 20
)

// classify reads a datagram's destination connection ID and decides its
// way, given this generation (self). Short headers carry no ID length, so
// the ID is data[1:1+CIDLen] (every ID this package issues has that
// length). Long headers carry it at data[5]. An ID that decrypts to a
// generation routes there, long header or short (a handshake that
// straddles an upgrade finishes where it began); a long header with an
// ID that is not ours (an Initial or 0-RTT packet, client-chosen) stays
// here; a short header with an ID that is not ours is dropped, never
// answered: quic-go would answer it with a stateless reset, valid for
// every generation since they share the key. It never panics, whatever
// the bytes.
func classify(c *cidCodec, self uint32, data []byte) (verdict, uint32) {
	if len(data) == 0 {
		return drop, 0
	}
	first := data[0]
	if first&longHeaderBit == 0 {
		if first&fixedBit == 0 || len(data) < 1+CIDLen {
			return drop, 0
		}
		gen, ok := c.decode(data[1 : 1+CIDLen])
		switch {
		case !ok:
			return drop, 0
		case gen == self:
			return local, gen
		default:
			return forward, gen
		}
	}
	// A long header: flags, version (4 bytes), DCID length, DCID, ...
	if len(data) < 6 {
		return drop, 0
	}
	n := int(data[5])
	if len(data) < 6+n {
		return drop, 0
	}
	if n > maxCIDLen {
		// Only an unknown version may carry a longer ID: the Transport
		// answers with version negotiation.
		return local, self
	}
	if gen, ok := c.decode(data[6 : 6+n]); ok && gen != self {
		return forward, gen
	}
	return local, self
}

// clientChosen says whether data is a long-header packet whose
// destination ID the client chose (Initial and 0-RTT packets of a new
// connection): it starts a connection rather than belonging to one.
func clientChosen(c *cidCodec, data []byte) bool {
	if len(data) < 6 || data[0]&longHeaderBit == 0 {
		return false
	}
	n := int(data[5])
	if n > maxCIDLen || len(data) < 6+n {
		return false
	}
	_, ours := c.decode(data[6 : 6+n])
	return !ours
}
