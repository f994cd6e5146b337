package bench

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// establishedTo counts the TCP connections in /proc/net/tcp that are
// established to one of addrs (IPv4 host:port): the client sides of
// connections to those listeners, whichever process holds them.
func establishedTo(addrs ...string) (int, error) {
	want := map[string]bool{}
	for _, a := range addrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil || !ap.Addr().Is4() {
			return 0, fmt.Errorf("counting connections to %q: not an IPv4 host:port", a)
		}
		ip := ap.Addr().As4()
		// /proc/net/tcp prints the address as a host-order (little
		// endian here) 32-bit number, the port in network order.
		want[fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ap.Port())] = true
	}
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// sl local_address rem_address st ...; 01 is ESTABLISHED.
		if len(fields) > 3 && fields[3] == "01" && want[fields[2]] {
			n++
		}
	}
	return n, sc.Err()
}
