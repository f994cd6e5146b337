//go:build !windows

package upgrade

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// dupFd duplicates fd with close-on-exec set atomically, so that no
// unrelated child started by another goroutine inherits it.
func dupFd(fd int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", err)
	}
	return nfd, nil
}

// dupConn duplicates the descriptor behind conn. It uses SyscallConn
// rather than File so the descriptor is not switched to blocking mode
// (blocking mode is a property of the open file, shared with the caller's
// listener).
func dupConn(conn syscall.Conn) (int, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd := -1
	var dupErr error
	if err := raw.Control(func(fd uintptr) { nfd, dupErr = dupFd(int(fd)) }); err != nil {
		return -1, err
	}
	return nfd, dupErr
}

func closeFd(fd int) { unix.Close(fd) }

// objectFromEntry builds the object a caller asked for. Sockets are built
// from a File over the registry's own descriptor, kept for the next
// handover (net.FileListener and friends duplicate it); a plain file gets
// a duplicate the caller may close.
func objectFromEntry(e *entry, key fdKey) (any, error) {
	if key.Kind == kindFile {
		nfd, err := dupFd(e.fd)
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(nfd), key.String()), nil
	}
	if e.file == nil {
		e.file = os.NewFile(uintptr(e.fd), key.String())
	}
	switch key.Kind {
	case kindListener:
		return net.FileListener(e.file)
	case kindPacket:
		return net.FilePacketConn(e.file)
	case kindConn:
		return net.FileConn(e.file)
	}
	return nil, fmt.Errorf("unknown kind %q", key.Kind)
}

// adoptFd takes ownership of a descriptor inherited across exec: it must
// not leak into children this process starts for other reasons.
func adoptFd(fd int) error {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return fmt.Errorf("descriptor %d is not open: %w", fd, err)
	}
	return nil
}

func setNonblock(fd int) { unix.SetNonblock(fd, true) }
