package udp

import (
	"net"

	"github.com/flipd/flipd"
)

func init() {
	flipd.RegisterModule(new(Echo))
}

// Echo is the "echo" handler: it sends every datagram back to its sender.
// It has no fields.
//
//	"handle": {"module": "echo"}
type Echo struct{}

// FlipdModule returns the module's ID, "udp.handlers.echo".
func (*Echo) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: HandlersNamespace + ".echo", New: func() flipd.Module { return new(Echo) }}
}

// HandleDatagram sends p back to client. A reply that cannot be sent
// (the socket's send buffer is full) is dropped, as UDP does.
func (*Echo) HandleDatagram(out Sender, client net.Addr, p []byte) {
	out.WriteTo(p, client)
}

// Interface guards.
var _ Handler = (*Echo)(nil)
