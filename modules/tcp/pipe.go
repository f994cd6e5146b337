package tcp

import (
	"context"
	"errors"
	"io"
	"net"
)

// pipe copies client to upstream and upstream to client until both
// directions are done, then closes upstream (the listener closes
// client). A direction is done when its source half-closes, which is
// passed on to its destination with CloseWrite, so that the other
// direction goes on. An error in either direction, or the end of ctx,
// closes both connections and thereby ends the other direction too.
func pipe(ctx context.Context, client, upstream net.Conn) error {
	defer upstream.Close()
	closeBoth := func() {
		client.Close()
		upstream.Close()
	}
	stop := context.AfterFunc(ctx, closeBoth)
	defer stop()

	errc := make(chan error, 2)
	go func() { errc <- forward(upstream, client) }()
	go func() { errc <- forward(client, upstream) }()
	var first error
	for range 2 {
		if err := <-errc; err != nil && first == nil {
			first = err
			closeBoth()
		}
	}
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// forward copies src to dst until src half-closes, then half-closes dst.
// A dst that cannot half-close returns an error, which closes both
// connections: its peer would otherwise wait forever for the end of the
// stream.
func forward(dst, src net.Conn) error {
	if _, err := io.Copy(dst, src); err != nil {
		return err
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
