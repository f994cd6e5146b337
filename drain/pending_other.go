//go:build !linux

package drain

import "net"

// hasInput reports whether bytes wait unread in c's socket. Only Linux
// tells; elsewhere a connection's silence is judged by its state alone.
func hasInput(net.Conn) bool { return false }
