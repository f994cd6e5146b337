package admin

import (
	"net"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// OpenListener creates the admin API's socket when no earlier generation
// left one to inherit (it makes Server a flipd.SocketOpener; an
// inherited socket is served as it is, never chmodded).
//
// A unix socket file is created with mode 0600 by bind itself, under a
// restrictive umask, so that it is never reachable by others, not even
// for a moment, and flipd never changes a mode by path (a path that an
// attacker may have replaced by a symlink). A socket file that a killed
// flipd left behind, on which nothing answers, is removed first, with a
// warning; a path that is not a socket, or on which something answers,
// is left alone and reported. An abstract socket ("@name", Linux only)
// has no file at all.
func (s *Server) OpenListener(network, addr string) (net.Listener, error) {
	if network != "unix" && network != "unixpacket" {
		return net.Listen(network, addr)
	}
	if strings.HasPrefix(addr, "@") {
		return listenAbstract(network, addr)
	}
	log := s.log
	if log == nil { // a Server not made by New
		log = hclog.NewNullLogger()
	}
	return listenPrivate(network, addr, log)
}
