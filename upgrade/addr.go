package upgrade

import (
	"net"
	"strconv"
	"strings"
)

// networkFamily folds "tcp4" and "tcp6" into "tcp" (likewise udp, ip) so
// that addresses of one family can be compared.
func networkFamily(network string) string {
	return strings.TrimRight(network, "46")
}

// canonicalAddr spells a listening address the way the kernel reports it
// once bound, so that ":8080", "[::]:8080" and "0:8080" compare equal.
// Host names are not resolved: only literal addresses are canonical.
func canonicalAddr(network, addr string) (string, bool) {
	switch networkFamily(network) {
	case "unix", "unixpacket", "unixgram":
		return addr, true
	case "tcp", "udp":
	default:
		return "", false
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 { // port 0 means "any": not comparable
		return "", false
	}
	var ip net.IP
	switch host {
	case "", "0", "::":
		ip = net.IPv6unspecified
		if strings.HasSuffix(network, "4") {
			ip = net.IPv4zero
		}
	default:
		if ip = net.ParseIP(host); ip == nil {
			return "", false
		}
	}
	if ip4 := ip.To4(); ip4 != nil {
		ip = ip4
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(p)), true
}
