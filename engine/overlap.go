package engine

import (
	"net"
	"path/filepath"
)

// overlap reports whether two different addresses would take the same
// socket, so that the second listener could never bind: "tcp4/" and
// "tcp/" spellings of one address, "localhost" and "127.0.0.1", a
// wildcard ("0.0.0.0", "[::]", "") and any address on the same port, or
// two spellings of one unix socket path. A TCP and a UDP address never
// overlap. Port 0 (any free port) overlaps
// nothing. Host names other than localhost are not resolved: DNS may say
// something else when the listener binds.
func overlap(a, b Address) bool {
	if isUnix(a.Network) || isUnix(b.Network) {
		return isUnix(a.Network) && isUnix(b.Network) && filepath.Clean(a.Addr) == filepath.Clean(b.Addr)
	}
	if isUDP(a.Network) != isUDP(b.Network) {
		return false // TCP and UDP ports are separate: HTTP/3 shares :443 with HTTPS
	}
	ahost, aport, err1 := net.SplitHostPort(a.Addr)
	bhost, bport, err2 := net.SplitHostPort(b.Addr)
	if err1 != nil || err2 != nil || aport != bport || aport == "0" {
		return false
	}
	if isWildcard(ahost) || isWildcard(bhost) {
		return true
	}
	for _, x := range hostIPs(a.Network, ahost) {
		for _, y := range hostIPs(b.Network, bhost) {
			if x == y {
				return true
			}
		}
	}
	return false
}

func isUnix(network string) bool { return network == "unix" || network == "unixpacket" }

// isWildcard: a listener on it takes the port on every address (on Linux
// "[::]" takes IPv4 too, unless the system is set to IPv6-only).
func isWildcard(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}

// hostIPs is what a host binds to, without asking DNS: localhost is the
// loopback address of the network's family (both for "tcp").
func hostIPs(network, host string) []string {
	if host != "localhost" {
		return []string{host}
	}
	switch network {
	case "tcp4", "udp4":
		return []string{"127.0.0.1"}
	case "tcp6", "udp6":
		return []string{"::1"}
	}
	return []string{"127.0.0.1", "::1"}
}
