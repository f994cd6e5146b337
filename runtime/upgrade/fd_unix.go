//go:build !windows

package upgrade

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
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

// objectFromFd builds the object a caller asked for over a duplicate of
// fd; the registry keeps fd itself for the next handover.
func objectFromFd(fd int, key fdKey) (any, error) {
	nfd, err := dupFd(fd)
	if err != nil {
		return nil, err
	}
	file := os.NewFile(uintptr(nfd), key.String())
	if key.Kind == kindFile {
		return file, nil
	}
	defer file.Close()
	switch key.Kind {
	case kindListener:
		return net.FileListener(file)
	case kindPacket:
		return net.FilePacketConn(file)
	case kindConn:
		return net.FileConn(file)
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

// prepareInherited wraps inherited descriptors into registry entries and
// builds the listeners and packet conns ahead, on every core at once:
// each costs several system calls (net.FileListener's among them), which
// would otherwise add up one by one when the program asks for 1,000
// sockets. A socket that cannot be built now is built, and its error
// reported, when it is claimed.
func prepareInherited(fds map[fdKey]int) map[fdKey]*entry {
	entries := make(map[fdKey]*entry, len(fds))
	type job struct {
		key fdKey
		e   *entry
	}
	var jobs []job
	for key, fd := range fds {
		e := &entry{fd: fd}
		entries[key] = e
		if key.Kind == kindListener || key.Kind == kindPacket {
			jobs = append(jobs, job{key, e})
		}
	}
	workers := min(runtime.GOMAXPROCS(0), (len(jobs)+63)/64)
	if workers == 0 {
		return entries
	}
	var wg sync.WaitGroup
	next := make(chan job)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				j.e.file = os.NewFile(uintptr(j.e.fd), j.key.String())
				var err error
				if j.key.Kind == kindListener {
					var ln net.Listener
					if ln, err = net.FileListener(j.e.file); err == nil {
						j.e.obj = ln
					}
				} else {
					var pc net.PacketConn
					if pc, err = net.FilePacketConn(j.e.file); err == nil {
						j.e.obj = pc
					}
				}
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	return entries
}

func setNonblock(fd int) { unix.SetNonblock(fd, true) }
