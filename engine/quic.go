package engine

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/flipd/flipd/quicroute"
)

// quicServer is a listener module that also serves QUIC on the UDP port
// of its TCP address (the http module's HTTP/3). The runtime opens (or
// inherits) that UDP socket through the upgrader, builds the router that
// keeps the module's QUIC connections in this generation after an
// upgrade, and passes it with the TLS config of the listener's tls
// wrapper. The module owns the router from then on and closes it when it
// has drained.
//
// This is the smallest hook for HTTP/3, kept apart so that it merges with
// the UDP listeners of the registry when those land.
type quicServer interface {
	// WantsQUIC says whether this listener serves QUIC (its config
	// asks for it).
	WantsQUIC() bool
	// ServeQUIC starts serving QUIC on r's Transport with tlsConf.
	ServeQUIC(r *quicroute.Router, tlsConf *tls.Config) error
}

// quicForwarder is a quicServer that can switch off the forwarding of
// older generations' packets (the http module's "http3_forward": false),
// to show what forwarding saves.
type quicForwarder interface {
	QUICForwarding() bool
}

// tlsConfigurer is a listener wrapper that terminates TLS (the tls
// module): QUIC uses its certificates and session ticket keys.
type tlsConfigurer interface {
	TLSConfig() *tls.Config
}

// checkQUIC refuses, when a config is loaded, a listener that asks for
// QUIC without what it needs, so that a reload fails before a new
// generation starts.
func checkQUIC(li *listener) error {
	qs, ok := li.module.(quicServer)
	if !ok || !qs.WantsQUIC() {
		return nil
	}
	if !strings.HasPrefix(li.addr.Network, "tcp") {
		return fmt.Errorf("http3: needs a tcp address to serve beside, not %s", li.addr)
	}
	for _, w := range li.wrappers {
		if _, ok := w.(tlsConfigurer); ok {
			return nil
		}
	}
	return errors.New(`http3: needs the "tls" wrapper: QUIC is always encrypted`)
}

// checkQUICPorts refuses a udp listener that would take the UDP port a
// listener serves HTTP/3 on: it could not bind beside it, or, with
// reuse_port, would take some of its packets.
func checkQUICPorts(lns []*listener) error {
	for _, q := range lns {
		qs, ok := q.module.(quicServer)
		if !ok || !qs.WantsQUIC() {
			continue
		}
		udp := Address{Network: strings.Replace(q.addr.Network, "tcp", "udp", 1), Addr: q.addr.Addr}
		for _, u := range lns {
			if u.addr.IsPacket() && overlap(u.addr, udp) {
				return fmt.Errorf("listener %q (%s) takes the UDP port that listener %q serves HTTP/3 on (%s): give one of them another port",
					u.name, u.addr, q.name, udp)
			}
		}
	}
	return nil
}

// serveQUIC starts QUIC for the listeners that want it, on the UDP port
// of the socket each serves (lns, in listener order). It returns the
// routers it made, so that a failed start-up closes them.
func (l *loaded) serveQUIC(reg sockets, lns []net.Listener) ([]*quicroute.Router, error) {
	var routers []*quicroute.Router
	for i, li := range l.listeners {
		qs, ok := li.module.(quicServer)
		if !ok || !qs.WantsQUIC() {
			continue
		}
		r, tlsConf, err := l.openQUIC(reg, li, lns[i])
		if err == nil {
			routers = append(routers, r)
			err = qs.ServeQUIC(r, tlsConf)
		}
		if err != nil {
			return routers, fmt.Errorf("listener %q: quic: %w", li.name, err)
		}
	}
	return routers, nil
}

func (l *loaded) openQUIC(reg sockets, li *listener, ln net.Listener) (*quicroute.Router, *tls.Config, error) {
	upg, ok := reg.(quicroute.Upgrader)
	if !ok {
		return nil, nil, errors.New("this runtime cannot hand UDP sockets over")
	}
	var tlsConf *tls.Config
	for _, w := range li.wrappers {
		if t, ok := w.(tlsConfigurer); ok {
			tlsConf = t.TLSConfig()
		}
	}
	if tlsConf == nil {
		return nil, nil, errors.New(`needs the "tls" wrapper: QUIC is always encrypted`)
	}
	network, addr, err := udpAddressOf(li.addr, ln.Addr())
	if err != nil {
		return nil, nil, err
	}
	opts := quicroute.Options{Logger: l.log.With("listener", li.name)}
	if f, ok := li.module.(quicForwarder); ok {
		opts.DisableForwarding = !f.QUICForwarding()
	}
	r, err := quicroute.New(upg, network, addr, opts)
	return r, tlsConf, err
}

// udpAddressOf is the UDP socket beside a TCP listener: same host, same
// port (the port the TCP socket got, when the config says port 0).
func udpAddressOf(a Address, bound net.Addr) (string, string, error) {
	if !strings.HasPrefix(a.Network, "tcp") {
		return "", "", fmt.Errorf("QUIC needs a tcp address to serve beside, not %s", a)
	}
	host, port, err := net.SplitHostPort(a.Addr)
	if err != nil {
		return "", "", err
	}
	if tcp, ok := bound.(*net.TCPAddr); ok && port == "0" {
		port = strconv.Itoa(tcp.Port)
	}
	return "udp" + strings.TrimPrefix(a.Network, "tcp"), net.JoinHostPort(host, port), nil
}

func closeRouters(rs []*quicroute.Router) {
	for _, r := range rs {
		r.Close()
	}
}
