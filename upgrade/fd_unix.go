//go:build !windows

package upgrade

import (
	"fmt"
	"io"
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
	if e.prepared != nil {
		obj := e.prepared
		e.prepared = nil
		return obj, nil
	}
	return newObject(e, key)
}

// newObject builds the listener, packet conn or connection of a socket
// entry.
func newObject(e *entry, key fdKey) (io.Closer, error) {
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

// checkHandshakeFds checks that fds 3 and 4 are what a parent passes: the
// read end and the write end of a pipe. It neither reads nor writes them.
func checkHandshakeFds() error {
	for _, c := range []struct {
		fd   int
		mode int
		what string
	}{{fdHandshake, unix.O_RDONLY, "read"}, {fdStatus, unix.O_WRONLY, "write"}} {
		var st unix.Stat_t
		if err := unix.Fstat(c.fd, &st); err != nil {
			return fmt.Errorf("fd %d is not open (%v)", c.fd, err)
		}
		if uint32(st.Mode)&unix.S_IFMT != unix.S_IFIFO {
			return fmt.Errorf("fd %d is not a pipe (%s)", c.fd, fileType(uint32(st.Mode)))
		}
		fl, err := unix.FcntlInt(uintptr(c.fd), unix.F_GETFL, 0)
		if err != nil || fl&unix.O_ACCMODE != c.mode {
			return fmt.Errorf("fd %d is not the %s end of a pipe", c.fd, c.what)
		}
	}
	return nil
}

func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFDIR:
		return "a directory"
	}
	return fmt.Sprintf("file type %#o", mode&unix.S_IFMT)
}

// fileIno is the inode number of the file info describes.
func fileIno(info os.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// processExists reports whether pid exists (as far as signals can tell:
// EPERM means it does).
func processExists(pid int) bool {
	if pid <= 0 {
		return true // never a parent: treat as someone else's
	}
	return unix.Kill(pid, 0) != unix.ESRCH
}

// prepare builds the listeners and packet conns of the inherited sockets
// ahead of their claim, as a standby does while it waits. One that fails
// is left as it is: its claim fails again and says why.
func (f *Fds) prepare() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for key, e := range f.inherited {
		if e.claimed || key.Kind != kindListener && key.Kind != kindPacket {
			continue
		}
		if obj, err := newObject(e, key); err == nil {
			e.prepared = obj
		}
	}
}
