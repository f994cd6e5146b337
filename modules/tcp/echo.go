package tcp

import (
	"context"
	"errors"
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
// On a reload its connections move to the new generation (the bytes read
// and not yet sent back move with them); with upgrade.move_connections
// false, or when the new config has no echo on that listener, an echo
// connection keeps working in the old generation until the client
// closes it, or the drain's deadline passes.
type Echo struct{}

// FlipdModule returns the module's ID, "tcp.handlers.echo".
func (*Echo) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: HandlersNamespace + ".echo", New: func() flipd.Module { return new(Echo) }}
}

// echoBuf is the most an echo holds between a read and its write, and so
// the most state a moved echo carries.
const echoBuf = 32 << 10

// Handle copies conn to itself until the client half-closes or closes
// it, or the connection is asked to move.
func (*Echo) Handle(ctx context.Context, conn net.Conn) error {
	return echo(ctx, conn, nil)
}

// HandoverKey is "echo/1": the state is the bytes read and not yet sent
// back.
func (*Echo) HandoverKey() string { return "echo/1" }

// Resume sends back the bytes the previous generation had read and not
// yet sent (mc.State), then echoes on.
func (*Echo) Resume(ctx context.Context, mc flipd.MovedConn) error {
	if len(mc.Conns) != 1 {
		return errors.New("echo: a moved echo is one connection")
	}
	clearDeadlines(mc.Conns[0])
	return echo(ctx, mc.Conns[0], mc.State)
}

// echo writes pending, then copies conn to itself. Asked to move, it
// wakes whatever Read or Write is blocked, and returns Move with what it
// read and could not write yet.
func echo(ctx context.Context, conn net.Conn, pending []byte) error {
	asked, stop := interruptOnMove(ctx, conn)
	defer stop()
	buf := make([]byte, echoBuf)
	for {
		if len(pending) > 0 {
			n, err := conn.Write(pending)
			pending = pending[n:]
			if err != nil {
				if asked.Load() && isTimeout(err) {
					return flipd.Move(append([]byte(nil), pending...))
				}
				return err
			}
		}
		if asked.Load() {
			return flipd.Move(nil)
		}
		n, err := conn.Read(buf)
		pending = buf[:n]
		if err != nil {
			if asked.Load() && isTimeout(err) {
				continue // write out what came with it, then move
			}
			if len(pending) > 0 {
				conn.Write(pending)
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// Interface guards.
var _ MovableHandler = (*Echo)(nil)
