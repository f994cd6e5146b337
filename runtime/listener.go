package runtime

import (
	"context"
	"net"
)

// ListenerModule serves the connections of one listener: the modules of
// namespace "listeners" ("http", "tcp", your own). The runtime opens (or
// inherits) the socket named by the listener's "address", passes it
// through the listener's wrappers, and calls Serve; when this generation
// hands over, or stops, it calls Drain.
type ListenerModule interface {
	Module
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

// ConnCounter is implemented by listener modules that can tell how many
// connections they hold open (for status and logs).
type ConnCounter interface {
	OpenConns() int
}

// SocketOpener is implemented by listener modules that create their own
// socket when no earlier generation left one to inherit (the admin API
// makes its unix socket private as bind creates it). An inherited socket
// is served as it is: OpenListener is not called for it.
type SocketOpener interface {
	OpenListener(network, addr string) (net.Listener, error)
}

// ListenerWrapper wraps a listener before its listener module sees it:
// the modules of namespace "listener_wrappers" ("tls", your own).
// Wrappers apply in config order, the first one closest to the socket.
type ListenerWrapper interface {
	Module
	WrapListener(ln net.Listener) (net.Listener, error)
}
