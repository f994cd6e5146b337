//go:build unix

package quicroute

import (
	"errors"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// socketpair makes a link: a connected pair of unixgram sockets. The
// first end stays here; the second is for the next generation.
func socketpair(name string) (*net.UnixConn, *os.File, error) {
	syscall.ForkLock.RLock()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err == nil {
		unix.CloseOnExec(fds[0])
		unix.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	// Room for a burst of forwarded packets (the kernel caps it).
	unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	// A unixgram sender owns a datagram until its reader takes it, so the
	// queue is bounded by the send buffer (a connected pair has no
	// max_dgram_qlen limit): a burst larger than the default one
	// (about 200 KB) would be dropped while the reader catches up.
	unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	own := os.NewFile(uintptr(fds[0]), name)
	conn, err := fileUnixConn(own)
	own.Close()
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	return conn, os.NewFile(uintptr(fds[1]), name), nil
}

// fileUnixConn makes a *net.UnixConn over a duplicate of f.
func fileUnixConn(f *os.File) (*net.UnixConn, error) {
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, &net.OpError{Op: "link", Net: "unixgram", Err: syscall.EINVAL}
	}
	return uc, nil
}

// trySend sends one datagram on a link without waiting: a full queue or
// a peer that has exited drops the packet, as a congested network would.
func trySend(c *net.UnixConn, b []byte) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		_, werr = unix.SendmsgN(int(fd), b, nil, nil, unix.MSG_DONTWAIT)
		return true
	})
	if err != nil {
		return err
	}
	return werr
}

// dupPacketConn returns a copy of a socket over a new descriptor, which
// stays open when the original is closed.
func dupPacketConn(pc net.PacketConn) (net.PacketConn, error) {
	sc, ok := pc.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, &net.OpError{Op: "dup", Net: pc.LocalAddr().Network(), Err: syscall.EINVAL}
	}
	f, err := sc.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FilePacketConn(f)
}

// processAlive says whether pid runs (or is a zombie not yet reaped).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}

// linkFull says whether a send on a link failed because its queue is
// full (rather than because its reader has exited).
func linkFull(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.ENOBUFS)
}
