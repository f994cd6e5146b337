package quicroute

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
)

// A forwarded datagram on a link is: version (1 byte, 1), address length
// (1 byte, 4 or 16), the client's IP address, its port (2 bytes, big
// endian), then the QUIC packet as read from the shared socket. The link
// is a unixgram socket, so one datagram carries one packet whole.
const forwardVersion = 1

// helloByte and a pid (4 bytes, big endian) in a datagram on a
// generation's link are its successor's hello: "my router, in this
// process, reads the shared socket now".
const helloByte = 0

// maxPacket bounds the QUIC packets a router reads and forwards; quic-go
// never sends larger than 1452 bytes, and a bigger buffer catches jumbo
// packets whole so that they are dropped rather than cut.
const maxPacket = 2048

// maxForward is the largest forwarded datagram.
const maxForward = 2 + 16 + 2 + maxPacket

var errBadForward = errors.New("quicroute: malformed forwarded datagram")

// appendForward encodes one packet from addr into buf.
func appendForward(buf []byte, addr netip.AddrPort, packet []byte) []byte {
	ip := addr.Addr().Unmap()
	buf = append(buf, forwardVersion, byte(ip.BitLen()/8))
	buf = append(buf, ip.AsSlice()...)
	buf = binary.BigEndian.AppendUint16(buf, addr.Port())
	return append(buf, packet...)
}

// parseForward decodes a forwarded datagram; the packet aliases msg.
func parseForward(msg []byte) (*net.UDPAddr, []byte, error) {
	if len(msg) < 2 || msg[0] != forwardVersion || (msg[1] != 4 && msg[1] != 16) {
		return nil, nil, errBadForward
	}
	n := int(msg[1])
	if len(msg) < 2+n+2 {
		return nil, nil, errBadForward
	}
	ip, _ := netip.AddrFromSlice(msg[2 : 2+n])
	port := binary.BigEndian.Uint16(msg[2+n:])
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, port)), msg[2+n+2:], nil
}
