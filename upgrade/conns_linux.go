//go:build linux

package upgrade

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// newConnsPair makes the connection channel of one upgrade: a unix
// SOCK_SEQPACKET socketpair, so that each message, with its descriptors,
// arrives whole or not at all. The child's end is a descriptor to pass
// (close-on-exec here); the parent's is a *net.UnixConn.
func newConnsPair() (*net.UnixConn, int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, -1, os.NewSyscallError("socketpair", err)
	}
	for _, fd := range fds {
		// A message must fit in the sender's buffer at once; the
		// default (wmem_default, usually 208 KiB) does, this is margin.
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 2*maxConnMsg)
	}
	c, err := unixConnFromFd(fds[0], "upgrade-conns")
	if err != nil {
		unix.Close(fds[1])
		return nil, -1, err
	}
	return c, fds[1], nil
}

// unixConnFromFd makes a *net.UnixConn of fd, which it takes.
func unixConnFromFd(fd int, name string) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("connection channel: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("connection channel: descriptor %d is not a unix socket", fd)
	}
	return uc, nil
}

// recvNow reads one message if one is queued, without waiting: ok is
// false when none is.
func recvNow(c *net.UnixConn, buf, oob []byte) (n, oobn int, ok bool, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, 0, false, err
	}
	var flags int
	cerr := raw.Read(func(fd uintptr) bool {
		n, oobn, flags, _, err = unix.Recvmsg(int(fd), buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		return true // never wait
	})
	if cerr != nil {
		return 0, 0, false, cerr
	}
	if errors.Is(err, unix.EAGAIN) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, os.NewSyscallError("recvmsg", err)
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeFds(parseRights(oob[:oobn]))
		return 0, 0, false, errors.New("connection channel: a message was cut")
	}
	return n, oobn, n > 0, nil
}

// rights is the control message that passes fds.
func rights(fds []int) []byte { return unix.UnixRights(fds...) }

// oobSize is room for the control message of MaxConnFds descriptors.
var oobSize = unix.CmsgSpace(4 * (MaxConnFds + 1))

// truncated reports whether a received message or its control message
// was cut.
func truncated(flags int) bool { return flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 }

// parseRights returns every descriptor in oob, whatever else is wrong
// with it, so that the caller can close them.
func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&m)
		if err == nil {
			fds = append(fds, got...)
		}
	}
	return fds
}

func closeFds(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
