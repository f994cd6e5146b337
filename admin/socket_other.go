//go:build !linux

package admin

import (
	"fmt"
	"net"
)

// listenAbstract refuses: only Linux has abstract unix sockets, and
// elsewhere "@name" would be a file in the working directory.
func listenAbstract(network, addr string) (net.Listener, error) {
	return nil, fmt.Errorf("%s/%s: abstract unix sockets exist only on Linux: use a socket file for admin.listen", network, addr)
}
