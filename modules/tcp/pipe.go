package tcp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/flipd/flipd"
)

// pipeBuf is what each direction of a pipe reads at once, and so the
// most it holds unwritten when it moves.
const pipeBuf = 32 << 10

// flow is one direction of a pipe: it copies src to dst. pending are
// bytes read and not yet written; done says src has half-closed and dst
// was half-closed in turn.
type flow struct {
	dst, src net.Conn
	pending  []byte
	done     bool
}

// run writes what is pending, then copies until src half-closes, which
// it passes on to dst with CloseWrite. A dst that cannot half-close
// returns an error, which closes both connections: its peer would
// otherwise wait forever for the end of the stream. An error of a Write
// leaves what it did not write in pending.
func (f *flow) run() error {
	if f.done {
		return nil
	}
	buf := make([]byte, pipeBuf)
	for {
		if len(f.pending) > 0 {
			n, err := f.dst.Write(f.pending)
			f.pending = f.pending[n:]
			if err != nil {
				f.pending = append([]byte(nil), f.pending...)
				return err
			}
		}
		n, err := f.src.Read(buf)
		f.pending = buf[:n]
		if errors.Is(err, io.EOF) && n == 0 {
			f.done = true
			if cw, ok := f.dst.(interface{ CloseWrite() error }); ok {
				return cw.CloseWrite()
			}
			return errors.ErrUnsupported
		}
		if err != nil && n == 0 {
			return err
		}
	}
}

// pipe copies client to upstream and upstream to client until both
// directions are done, then closes upstream (the listener closes
// client). A direction is done when its source half-closes, which is
// passed on to its destination with CloseWrite, so that the other
// direction goes on. An error in either direction, or the end of ctx,
// closes both connections and thereby ends the other direction too.
//
// Asked to move (flipd.Moving), it wakes both directions with a deadline
// in the past and returns flipd.Move with the upstream and a state that
// holds, for each direction, whether it is done and the bytes it read
// and had not written: nothing is left in flight inside flipd, however
// stuck a write was.
func pipe(ctx context.Context, client, upstream net.Conn, c2u, u2c []byte, c2uDone, u2cDone bool) error {
	moved := false
	defer func() {
		if !moved {
			upstream.Close()
		}
	}()
	closeBoth := func() {
		client.Close()
		upstream.Close()
	}
	stop := context.AfterFunc(ctx, closeBoth)
	defer stop()
	asked, unwatch := interruptOnMove(ctx, client, upstream)
	defer unwatch()

	flows := [2]*flow{
		{dst: upstream, src: client, pending: c2u, done: c2uDone},
		{dst: client, src: upstream, pending: u2c, done: u2cDone},
	}
	errc := make(chan error, 2)
	for _, f := range flows {
		go func() { errc <- f.run() }()
	}
	var first error
	interrupted := 0
	for range 2 {
		err := <-errc
		switch {
		case err == nil:
		case asked.Load() && isTimeout(err):
			interrupted++
		case first == nil:
			first = err
			closeBoth()
		}
	}
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	if first != nil || interrupted == 0 {
		return first
	}
	moved = true
	return flipd.Move(encodePipeState(flows[0], flows[1]), upstream)
}

// The state of a moved pipe, version 1: a version byte, a flags byte
// (1: client to upstream is done; 2: upstream to client is done), then
// for each direction, client to upstream first, a 4-byte big-endian
// length and the bytes read and not yet written.
const pipeStateVersion = 1

func encodePipeState(c2u, u2c *flow) []byte {
	var flags byte
	if c2u.done {
		flags |= 1
	}
	if u2c.done {
		flags |= 2
	}
	b := []byte{pipeStateVersion, flags}
	for _, f := range []*flow{c2u, u2c} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f.pending)))
		b = append(b, f.pending...)
	}
	return b
}

func decodePipeState(b []byte) (c2u, u2c []byte, c2uDone, u2cDone bool, err error) {
	if len(b) < 2 || b[0] != pipeStateVersion {
		return nil, nil, false, false, errors.New("proxy: moved state of an unknown version")
	}
	c2uDone, u2cDone = b[1]&1 != 0, b[1]&2 != 0
	rest := b[2:]
	var parts [2][]byte
	for i := range parts {
		if len(rest) < 4 {
			return nil, nil, false, false, errors.New("proxy: moved state cut short")
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint32(len(rest)) < n {
			return nil, nil, false, false, errors.New("proxy: moved state cut short")
		}
		parts[i], rest = rest[:n], rest[n:]
	}
	if len(rest) != 0 {
		return nil, nil, false, false, fmt.Errorf("proxy: %d bytes after the moved state", len(rest))
	}
	return parts[0], parts[1], c2uDone, u2cDone, nil
}
