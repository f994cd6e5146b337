package flipd

import (
	"context"
	"net"
)

// A listener module (namespace "listeners") is a Module that implements
// one of two contracts:
//
//   - [ConnHandler]: it serves one connection, and the runtime runs the
//     accept loop, tracking and drain for it ([ConnServer]). Most
//     protocols fit here: a line protocol, a proxy, modules/tcp.
//   - [ListenerModule]: it serves the listener itself, for servers that
//     own their accept loop, such as net/http's (modules/flipdhttp).
//
// When a module implements both, the runtime uses ListenerModule.

// ConnHandler is the contract of a listener module that serves one
// connection at a time. The runtime accepts on the listener's socket
// (wrapped by its wrappers: TLS, say) and calls ServeConn on a goroutine
// of its own for each connection, so ServeConn must be safe for
// concurrent use.
//
// ServeConn serves conn and returns when it is done with it; the runtime
// then closes conn. ctx ends when the connection must end: the drain's
// deadline has passed (the runtime closes conn as well). Closing conn
// interrupts reads and writes on it; use ctx to stop anything else, such
// as a dial. An error returned is logged at debug level with the
// client's address: it says why one connection ended. A panic is
// recovered and logged, and the connection is closed.
type ConnHandler interface {
	ServeConn(ctx context.Context, conn net.Conn) error
}

// Server serves the connections of one listener: the runtime calls Serve
// with the listener's socket once this generation is to serve, and Drain
// when it hands over or stops. [ConnServer] is one; a [ListenerModule]
// is one; so is the admin API, which is not a module.
type Server interface {
	// Serve serves on ln until Drain closes it; it then returns nil.
	// Any other error ends this generation's start-up (before ready) or
	// is logged (after). The runtime takes Serve's first call to
	// ln.Accept as the sign that it serves, and reports ready only then
	// (or after a short window): set up first, then accept.
	Serve(ln net.Listener) error
	// Drain stops accepting at once, closing the listeners given to
	// Serve, lets the work in flight finish, and returns when no
	// connection is left. When ctx ends first, it closes what is left
	// and returns an error that says how many connections that was.
	Drain(ctx context.Context) error
}

// ListenerModule is the contract of a listener module that serves its
// listener itself: what is configured (Module) and what serves (Server).
// Write one only when something else owns the accept loop (net/http, as
// in modules/flipdhttp) or the loop needs settings of its own (run a
// [ConnServer] inside, as modules/tcp does); otherwise write a
// [ConnHandler].
type ListenerModule interface {
	Module
	Server
}

// ConnCounter is implemented by servers that can tell how many
// connections they hold open (for status and logs).
type ConnCounter interface {
	OpenConns() int
}

// SocketOpener is implemented by servers that create their own socket
// when no earlier generation left one to inherit (the admin API makes
// its unix socket private as bind creates it). An inherited socket is
// served as it is: OpenListener is not called for it.
type SocketOpener interface {
	OpenListener(network, addr string) (net.Listener, error)
}

// ListenerWrapper wraps a listener before its listener module sees it:
// the modules of namespace "listener_wrappers" ("tls", your own).
// Wrappers apply in config order, the first one closest to the socket.
// WrapListener runs only in the generation about to serve, before the
// modules' Start: it should only wrap, and leave slow work (obtaining
// certificates, say) to Start.
type ListenerWrapper interface {
	Module
	WrapListener(ln net.Listener) (net.Listener, error)
}
