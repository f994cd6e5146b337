//go:build windows

package upgrade

import (
	"os"
	"syscall"
)

func dupFd(int) (int, error)                     { return -1, ErrNotSupported }
func dupConn(syscall.Conn) (int, error)          { return -1, ErrNotSupported }
func closeFd(int)                                {}
func objectFromEntry(*entry, fdKey) (any, error) { return nil, ErrNotSupported }
func adoptFd(int) error                          { return ErrNotSupported }
func setNonblock(int)                            {}
func checkHandshakeFds() error                   { return ErrNotSupported }

func fileIno(os.FileInfo) uint64 { return 0 }

func processExists(int) bool { return true }

func (f *Fds) prepare() {}
