package udp

import (
	"context"
	"net"

	"github.com/flipd/flipd"
)

// HandlersNamespace is the namespace of the modules a udp listener's
// "handle" object can name: "echo" has the ID "udp.handlers.echo".
const HandlersNamespace = "udp.handlers"

// Handler serves the datagrams of a udp listener. Handlers are the modules
// of namespace "udp.handlers", chosen in config by the listener's "handle"
// object: {"module": "echo"}.
//
// HandleDatagram is called for each datagram, one at a time, from the
// listener's read loop: it must not block (hand slow work to a goroutine
// of its own), and p is valid only until it returns. out is the
// listener's socket: replies go to a client with out.WriteTo; it stays
// usable after the listener stops reading, until the handler's Drain (if
// any) returns.
type Handler interface {
	flipd.Module
	HandleDatagram(out Sender, client net.Addr, p []byte)
}

// Sender sends a datagram: the listener's socket.
type Sender interface {
	WriteTo(p []byte, addr net.Addr) (int, error)
}

// Drainer is implemented by handlers with work that outlives a datagram
// (proxy sessions waiting for replies). Drain is called once the listener
// has stopped reading; it returns when that work is done, or when ctx
// ends, after dropping what is left, with an error that says how much.
type Drainer interface {
	Drain(ctx context.Context) error
}
