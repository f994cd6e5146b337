package flipd

import "net"

// Connection handover: established connections that move to the next
// generation instead of draining.
//
// When a reload's new generation is ready, the old one asks each of its
// servers that is a [ConnMover] to hand over what it can: each connection
// whose bytes flipd owns end to end on a plaintext socket (a TCP stream, a
// WebSocket tunnel, an idle HTTP/1 keep-alive connection) is passed, at a
// point where no byte is in flight inside flipd, with the state its server
// needs to resume it, over a unix socket set up in the upgrade handshake
// (package upgrade documents what travels and in which order). The new
// generation's server for the same listener adopts it. Connections that
// cannot move (TLS terminated in flipd, HTTP/2, a module that does not opt
// in, a listener the new config dropped, a server whose HandoverKey
// changed) drain as before.

// ConnMover is implemented by a [Server] whose established connections can
// move to the next generation instead of draining. The runtime calls
// MoveConns in the old generation and AdoptConn in the new one; the two
// must be the same module (the new generation's server of the same
// listener adopts only when its HandoverKey is equal).
type ConnMover interface {
	Server
	// HandoverKey names what a moved connection needs of the server that
	// adopts it: the module's name and every setting a moved connection
	// depends on (a proxy's upstream, say). The new generation's server
	// on the same listener adopts only when its key is equal; otherwise
	// the old generation drains the connection. "" opts out.
	HandoverKey() string
	// MoveConns is called once in the old generation, after the new
	// generation is ready and before Drain. From then until Drain
	// returns, the server hands each connection that can move to sink,
	// at a point where no byte is in flight inside the server (a
	// connection that becomes movable later, an HTTP/1 connection that
	// goes idle after its last response, say, is handed then), and stops
	// counting it. A connection whose Move fails stays with the server,
	// which serves and drains it as before. MoveConns must not block.
	MoveConns(sink ConnSink)
	// AdoptConn is called in the new generation for each connection moved
	// to this server, after Serve has been called. The server owns
	// mc.Conns from then on, counts them as its own and drains them like
	// the connections it accepted; it resumes them with mc.State, which
	// it wrote itself in the old generation. An error closes mc.Conns.
	AdoptConn(mc MovedConn) error
}

// MovedConn is a connection that moves between generations, or a group of
// connections that move together (the two sides of a proxied pair, the
// client's first), with the state the module needs to resume it: bytes
// read but not yet forwarded, which direction had half-closed, and so on.
// State is the module's own and opaque to the runtime; keep it small (it
// travels in one message of at most [MaxMovedState] bytes).
type MovedConn struct {
	Conns []net.Conn
	State []byte
}

// MaxMovedState bounds [MovedConn.State]: a larger state fails the Move,
// and the connection drains instead.
const MaxMovedState = 128 << 10

// ConnSink takes connections to the next generation.
type ConnSink interface {
	// Move passes mc's descriptors and State to the next generation. On
	// success the connections are closed here (the sockets live on in the
	// new generation, which holds their descriptors; no FIN is sent). On
	// error nothing moved, mc.Conns are still open here, and the caller
	// serves and drains them as before.
	Move(mc MovedConn) error
}
