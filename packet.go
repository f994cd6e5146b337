package flipd

import (
	"context"
	"net"
)

// PacketServer serves the datagrams of one packet listener: a "udp/..."
// address ("udp4/...", "udp6/..."). It is the datagram counterpart of
// [Server]; a listener module that implements it is a
// [PacketListenerModule].
//
// A UDP socket has no accept queue: every generation that holds it may
// read it, and each datagram goes to one reader. So the runtime calls
// ServePacket only once this generation has reported ready, when the
// generation it replaces has been told to stop reading (datagrams that
// arrive meanwhile wait in the socket's receive buffer: it is the same
// kernel socket), and calls Drain when a newer generation takes over.
type PacketServer interface {
	// ServePacket reads and serves pc until Drain stops it; it then
	// returns nil. pc is the socket itself, a *net.UDPConn (so a module
	// may use its ReadMsgUDP, SyscallConn and the like, as quic-go
	// does), shared with the generations before and after this one: do
	// all set-up that can fail in Provision or Start, since by the time
	// ServePacket runs the previous generation drains. An error returned
	// is logged.
	ServePacket(pc net.PacketConn) error
	// Drain stops reading at once (pc stays open for writing: replies
	// still in flight, say from an upstream, go out through it), lets
	// the work in flight finish, closes pc and returns. When ctx ends
	// first, it drops what is left and returns an error that says how
	// much that was. Drain may be called without ServePacket having been
	// called (a start-up that failed); it then returns at once.
	Drain(ctx context.Context) error
}

// PacketListenerModule is the contract of a listener module that serves
// datagrams (namespace "listeners"): what is configured (Module) and what
// serves (PacketServer). modules/udp is one. A packet listener module on
// a stream address (tcp, unix), or a stream module on a udp address, is a
// config error.
type PacketListenerModule interface {
	Module
	PacketServer
}

// SessionCounter is implemented by packet servers that track sessions
// (a client address and what serves it, such as an upstream socket): how
// many are open, for status and metrics.
type SessionCounter interface {
	OpenSessions() int
}
