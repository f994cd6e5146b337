package tcp

import (
	"context"
	"net"

	"github.com/flipd/flipd"
)

// HandlersNamespace is the namespace of the modules a tcp listener's
// "handle" object can name: a handler called "echo" has the ID
// "tcp.handlers.echo".
const HandlersNamespace = "tcp.handlers"

// Handler serves the connections of a tcp listener. Handlers are the
// modules of namespace "tcp.handlers", chosen in config by the listener's
// "handle" object: {"module": "echo"}.
//
// To write one, give a type a FlipdModule method returning the ID
// "tcp.handlers.<name>", register it from an init function with
// flipd.RegisterModule, and import its package from your build of
// flipd. Like every module it may be a flipd.Provisioner,
// flipd.Validator or flipd.CleanerUpper; it may also be a Drainer.
//
// One handler value serves every connection of its listener, each on its
// own goroutine, so Handle must be safe for concurrent use.
//
// Handle serves conn and returns when it is done with it. The listener
// closes conn once Handle returns, so Handle need not. conn has a
// CloseWrite method (interface{ CloseWrite() error }) that half-closes it
// when the connection under it can, as TCP and TLS can, and returns
// errors.ErrUnsupported otherwise.
//
// ctx ends when the connection must end: the drain's deadline has passed,
// or the connection was idle longer than the listener's idle_timeout. In
// both cases the listener closes conn as well. Closing conn
// interrupts reads and writes on it; use ctx to stop anything else, such
// as a dial or a connection of your own.
//
// An error returned by Handle is logged at debug level with the client's
// address: it explains why one connection ended. Log what an operator
// must see, an upstream that is down say, with your own logger (the
// flipd.Context's Logger, kept at Provision). A panic in Handle is
// recovered and logged, and the connection is closed.
type Handler interface {
	flipd.Module
	Handle(ctx context.Context, conn net.Conn) error
}

// Drainer is implemented by handlers that can ask their clients to leave,
// which plain TCP cannot do: a protocol with a goodbye message, say.
// Drain is called once, when the listener starts to drain, after it has
// stopped accepting; it must not block. The handler then ends its
// connections at a point that suits its protocol (once the current
// exchange is answered, typically). Connections still open when the
// drain's deadline passes are closed regardless.
type Drainer interface {
	Drain()
}
