//go:build !windows

package engine

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// control sets the options that must come before bind (SO_REUSEPORT) and
// the buffer sizes, on a socket being created.
func (o SocketOptions) control(_, _ string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		if o.ReusePort {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); e != nil {
				err = fmt.Errorf("setting SO_REUSEPORT: %w", e)
				return
			}
		}
		err = o.setBuffers(int(fd))
	}); cerr != nil {
		return cerr
	}
	return err
}

// setBuffers sets the buffer sizes asked for: with the FORCE variant
// first (it needs CAP_NET_ADMIN and ignores rmem_max/wmem_max), else the
// plain one.
func (o SocketOptions) setBuffers(fd int) error {
	for _, b := range []struct {
		name         string
		size         int
		force, plain int
	}{{"SO_RCVBUF", o.RecvBuffer, rcvBufForce, unix.SO_RCVBUF}, {"SO_SNDBUF", o.SendBuffer, sndBufForce, unix.SO_SNDBUF}} {
		if b.size == 0 {
			continue
		}
		if b.force >= 0 && unix.SetsockoptInt(fd, unix.SOL_SOCKET, b.force, b.size) == nil {
			continue
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, b.plain, b.size); err != nil {
			return fmt.Errorf("setting %s to %d: %w", b.name, b.size, err)
		}
	}
	return nil
}

// listen sets a listening socket's backlog: listen(2) on a socket that
// listens already updates its backlog, and nothing else.
func (o SocketOptions) listen(c syscall.RawConn) error {
	if o.Backlog == 0 {
		return nil
	}
	var err error
	if cerr := c.Control(func(fd uintptr) { err = unix.Listen(int(fd), o.Backlog) }); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("setting the backlog to %d: %w", o.Backlog, err)
	}
	return nil
}

// applyInPlace sets the options that can change on a socket that exists
// (inherited from the previous generation): the backlog of a listening
// socket, and the buffer sizes.
func (o SocketOptions) applyInPlace(c syscall.RawConn, listening bool) error {
	var err error
	if cerr := c.Control(func(fd uintptr) { err = o.setBuffers(int(fd)) }); cerr != nil {
		return cerr
	}
	if err != nil || !listening {
		return err
	}
	return o.listen(c)
}

// socketState is what the kernel says of a socket's options.
type socketState struct {
	ReusePort              bool
	RecvBuffer, SendBuffer int // as the kernel accounts them (see kernelDoubles)
}

// readSocket reads a socket's options back with getsockopt.
func readSocket(c syscall.RawConn) (socketState, error) {
	var st socketState
	var errs []error
	cerr := c.Control(func(fd uintptr) {
		rp, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT)
		st.ReusePort = rp != 0
		errs = append(errs, err)
		st.RecvBuffer, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		errs = append(errs, err)
		st.SendBuffer, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
		errs = append(errs, err)
	})
	if cerr != nil {
		return st, cerr
	}
	return st, errors.Join(errs...)
}
