package quicroute

import (
	"bytes"
	"net/netip"
	"testing"
)

func testCodec(t testing.TB) *cidCodec {
	t.Helper()
	c, err := newCIDCodec(bytes.Repeat([]byte{7}, secretLen))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func shortHeader(cid []byte) []byte {
	return append(append([]byte{0x40 | 0x01}, cid...), bytes.Repeat([]byte{0xaa}, 30)...)
}

func longHeader(cid []byte) []byte {
	b := []byte{0xc0, 0, 0, 0, 1, byte(len(cid))}
	b = append(b, cid...)
	return append(b, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0)
}

func TestConnectionIDsCarryTheirGenerationAndLookRandom(t *testing.T) {
	c := testCodec(t)
	a, _ := c.encode(5)
	b, _ := c.encode(5)
	if bytes.Equal(a, b) {
		t.Fatal("two IDs of one generation are equal")
	}
	if bytes.Equal(a[:4], b[:4]) {
		t.Fatal("two IDs of one generation share their first bytes: the generation shows")
	}
	for _, id := range [][]byte{a, b} {
		if gen, ok := c.decode(id); !ok || gen != 5 {
			t.Fatalf("decode = %d, %v; want 5, true", gen, ok)
		}
	}
	other, _ := newCIDCodec(bytes.Repeat([]byte{8}, secretLen))
	if _, ok := other.decode(a); ok {
		t.Fatal("an ID decodes under another secret")
	}
}

func TestClassifyRoutesByTheGenerationInTheConnectionID(t *testing.T) {
	c := testCodec(t)
	mine, _ := c.encode(3)
	older, _ := c.encode(2)
	random := bytes.Repeat([]byte{0x11}, CIDLen)
	tests := []struct {
		name string
		data []byte
		want verdict
		gen  uint32
	}{
		{"empty", nil, drop, 0},
		{"a short header of this generation", shortHeader(mine), local, 3},
		{"a short header of an older generation", shortHeader(older), forward, 2},
		{"a short header with an unknown ID", shortHeader(random), drop, 0},
		{"a short header too short for an ID", shortHeader(mine)[:CIDLen], drop, 0},
		{"a short header without the fixed bit", append([]byte{0x01}, mine...), drop, 0},
		{"an Initial with a client-chosen ID", longHeader(random[:8]), local, 3},
		{"a handshake packet of an older generation", longHeader(older), forward, 2},
		{"a long header cut in its ID", longHeader(mine)[:10], drop, 0},
		{"a long header cut before its ID length", []byte{0xc0, 0, 0}, drop, 0},
		{"a long header with a 255-byte ID", append([]byte{0xc0, 0xa, 0xa, 0xa, 0xa, 255}, make([]byte, 255)...), local, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, gen := classify(c, 3, tt.data)
			if v != tt.want || (v == forward && gen != tt.gen) {
				t.Fatalf("classify = %v, %d; want %v, %d", v, gen, tt.want, tt.gen)
			}
		})
	}
}

func TestForwardedDatagramsKeepTheClientAddress(t *testing.T) {
	for _, s := range []string{"127.0.0.1:4433", "[::1]:55000", "[::ffff:10.0.0.1]:1"} {
		from := netip.MustParseAddrPort(s)
		msg := appendForward(nil, from, []byte("packet"))
		addr, data, err := parseForward(msg)
		if err != nil {
			t.Fatal(err)
		}
		if addr.AddrPort() != netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) || string(data) != "packet" {
			t.Fatalf("%s: got %v %q", s, addr, data)
		}
	}
	for _, bad := range [][]byte{nil, {1}, {2, 4, 1, 2, 3, 4, 0, 1}, {1, 5, 0}, {1, 4, 1, 2, 3}} {
		if _, _, err := parseForward(bad); err == nil {
			t.Fatalf("parseForward(%v) accepted a malformed datagram", bad)
		}
	}
}

// FuzzClassify: whatever arrives on the shared socket or a link, the
// router neither panics nor routes a packet it cannot read.
func FuzzClassify(f *testing.F) {
	c := testCodec(f)
	id, _ := c.encode(2)
	f.Add(shortHeader(id))
	f.Add(longHeader(id))
	f.Add(longHeader([]byte{1, 2, 3, 4}))
	f.Add([]byte{0xc0, 0, 0, 0, 1, 200})
	f.Add(appendForward(nil, netip.MustParseAddrPort("127.0.0.1:1"), shortHeader(id)))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, gen := classify(c, 3, data)
		if v == forward && gen == 3 {
			t.Fatal("forwards a packet of its own generation")
		}
		if v != drop && len(data) < 6 && data[0]&longHeaderBit != 0 {
			t.Fatal("routes a long header too short to hold an ID length")
		}
		if addr, pkt, err := parseForward(data); err == nil && (addr == nil || len(pkt) > len(data)) {
			t.Fatal("parseForward returned a bad result")
		}
	})
}
