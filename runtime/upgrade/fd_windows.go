//go:build windows

package upgrade

import "syscall"

func dupFd(int) (int, error)               { return -1, ErrNotSupported }
func dupConn(syscall.Conn) (int, error)    { return -1, ErrNotSupported }
func closeFd(int)                          {}
func objectFromFd(int, fdKey) (any, error) { return nil, ErrNotSupported }
func adoptFd(int) error                    { return ErrNotSupported }
func setNonblock(int)                      {}

func prepareInherited(fds map[fdKey]int) map[fdKey]*entry {
	entries := make(map[fdKey]*entry, len(fds))
	for key, fd := range fds {
		entries[key] = &entry{fd: fd}
	}
	return entries
}
