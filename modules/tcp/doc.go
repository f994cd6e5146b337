// Package tcp provides the "tcp" listener module, which serves plain TCP
// connections (or TLS ones, behind the "tls" wrapper) with a handler, and
// the built-in handlers "echo" and "proxy".
//
// A listener names the module and its handler:
//
//	"listeners": {
//		"echo": {"address": "tcp/127.0.0.1:7000", "module": "tcp", "idle_timeout": "5m",
//			"handle": {"module": "echo"}},
//		"db": {"address": "tcp/127.0.0.1:7001", "module": "tcp", "max_conns": 100,
//			"handle": {"module": "proxy", "upstream": "127.0.0.1:5432", "dial_timeout": "5s"}}
//	}
//
// The listener's own fields are those of Server; a handler's are those of
// its type (Echo, Proxy). Durations are strings such as "5s" or "1m30s"
// ([flipd.Duration]): a bare number or a negative duration is refused.
// Unknown fields are errors.
//
// # Handover
//
// When a new generation takes over, the old one stops accepting at once:
// the socket lives on in the new generation, so no client waiting to be
// accepted is lost. The connections it holds move to the new generation
// when their handler can move them (MovableHandler: echo, and proxy
// with its upstream connection), the listener is still in the new config
// with the same wrappers and handler, and upgrade.move_connections is not
// false: the socket itself passes to the new process, with the bytes the
// handler had read and not yet written and which directions had
// half-closed, so the client sees nothing, and the old generation exits
// as soon as its connections are gone. A write that was blocked (a peer
// that does not read) is interrupted and its unwritten bytes move too.
//
// Other connections (a handler that cannot move, a listener the new
// config dropped or changed, move_connections false, TLS through the
// "tls" wrapper) are left to end by themselves, since plain TCP has no way
// to ask a peer to leave, until the drain's deadline
// (upgrade.drain_timeout), when those left are closed. Handlers that speak
// a protocol with a goodbye can end theirs sooner by implementing Drainer.
//
// # Writing a handler
//
// A handler is a module of namespace "tcp.handlers" that implements
// Handler; see there for the contract, and Echo for the smallest example.
// The accept loop, connection tracking and drain are the runtime's
// ([flipd.ConnServer]); the tcp module adds max_conns, idle_timeout
// and Drainer around it. A handler fits when those settings are wanted,
// or a listener chooses among several handlers in config; a protocol
// that needs neither can be a listener module of its own, a
// [flipd.ConnHandler], with the same ServeConn-shaped method (see the
// flipd package's recipe).
package tcp
