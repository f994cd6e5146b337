//go:build !linux

package upgrade

import "net"

// Moving connections needs a unix SOCK_SEQPACKET socketpair (each
// message arrives whole, with its descriptors): Linux only for now. An
// upgrade elsewhere offers no channel, and every connection drains.
func newConnsPair() (*net.UnixConn, int, error) { return nil, -1, ErrNotSupported }

func unixConnFromFd(int, string) (*net.UnixConn, error) { return nil, ErrNotSupported }

func recvNow(*net.UnixConn, []byte, []byte) (int, int, bool, error) {
	return 0, 0, false, ErrNotSupported
}

func rights([]int) []byte { return nil }

var oobSize = 64

func truncated(int) bool { return false }

func parseRights([]byte) []int { return nil }

func closeFds([]int) {}
