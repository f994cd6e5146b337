package tcp

import (
	"context"
	"io"
	"net"

	"github.com/flipd/flipd"
)

func init() {
	flipd.RegisterModule(new(Echo))
}

// Echo is the "echo" handler: it sends back every byte it reads, until
// the client closes its side. It has no fields.
//
//	"handle": {"module": "echo"}
//
// During a drain an echo connection keeps working until the client
// closes it, or the drain's deadline passes.
type Echo struct{}

// FlipdModule returns the module's ID, "tcp.handlers.echo".
func (*Echo) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: HandlersNamespace + ".echo", New: func() flipd.Module { return new(Echo) }}
}

// Handle copies conn to itself until the client half-closes or closes it.
func (*Echo) Handle(_ context.Context, conn net.Conn) error {
	_, err := io.Copy(conn, conn)
	return err
}

// Interface guards.
var _ Handler = (*Echo)(nil)
