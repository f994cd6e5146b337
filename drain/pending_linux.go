package drain

import (
	"crypto/tls"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// hasInput reports whether bytes wait unread in c's socket: its client
// has begun a request (or a TLS handshake) that the server has not read
// yet, as happens when the machine stalls. Such a connection is not
// silent, and closing it would reset the request. Any doubt answers false.
func hasInput(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	if err := raw.Control(func(fd uintptr) {
		n, err = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	}); err != nil {
		return false
	}
	return err == nil && n > 0
}
