package engine

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"github.com/flipd/flipd"
)

// sockets is where listeners get their sockets: the upgrader's registry.
// A socket the previous generation handed over is inherited (the callback
// is not called); otherwise the callback creates it.
type sockets interface {
	ListenWithCallback(network, addr string, open func(network, addr string) (net.Listener, error)) (net.Listener, error)
	ListenPacketWithCallback(network, addr string, open func(network, addr string) (net.PacketConn, error)) (net.PacketConn, error)
}

// listen inherits li's socket, or creates it with li's socket options:
// through the module if it is a [flipd.SocketOpener].
func (li *listener) listen(reg sockets) (net.Listener, error) {
	created := false
	ln, err := reg.ListenWithCallback(li.addr.Network, li.addr.Addr, func(network, addr string) (net.Listener, error) {
		created = true
		if o, ok := li.module.(flipd.SocketOpener); ok {
			return li.openWith(o, network, addr)
		}
		ln, err := li.opts.listenConfig().Listen(context.Background(), network, addr)
		if err != nil {
			return nil, err
		}
		if sc, ok := ln.(syscall.Conn); ok {
			err = withRawConn(sc, li.opts.listen)
		}
		if err != nil {
			ln.Close()
			return nil, err
		}
		return ln, nil
	})
	if err != nil {
		return nil, err
	}
	if err := li.took(ln, !created); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// openWith creates li's socket through a module that opens its own, then
// applies li's options to it; reuse_port, which must come before bind,
// cannot be.
func (li *listener) openWith(o flipd.SocketOpener, network, addr string) (net.Listener, error) {
	if li.opts.ReusePort {
		return nil, fmt.Errorf("reuse_port cannot be set: the module opens its own socket, and SO_REUSEPORT must be set before bind")
	}
	ln, err := o.OpenListener(network, addr)
	if err != nil || !li.opts.set() {
		return ln, err
	}
	if sc, ok := ln.(syscall.Conn); ok {
		err = withRawConn(sc, func(c syscall.RawConn) error { return li.opts.applyInPlace(c, true) })
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// listenPacket inherits li's datagram socket, or creates it with li's
// socket options.
func (li *listener) listenPacket(reg sockets) error {
	created := false
	pc, err := reg.ListenPacketWithCallback(li.addr.Network, li.addr.Addr, func(network, addr string) (net.PacketConn, error) {
		created = true
		return li.opts.listenConfig().ListenPacket(context.Background(), network, addr)
	})
	if err != nil {
		return err
	}
	if err := li.took(pc, !created); err != nil {
		pc.Close()
		return err
	}
	li.pc = pc
	return nil
}

// took records li's socket. An inherited one must have been created with
// the reuse_port li asks for: that cannot change on a bound socket. (A
// reload checks this before it starts a new generation, see
// checkSocketChanges; this catches sockets from systemd.)
func (li *listener) took(sock any, inherited bool) error {
	li.sock, _ = sock.(syscall.Conn)
	li.inherited = inherited
	if !inherited || li.sock == nil || isUnix(li.addr.Network) {
		return nil
	}
	var st socketState
	err := withRawConn(li.sock, func(c syscall.RawConn) (err error) { st, err = readSocket(c); return err })
	if err != nil || st.ReusePort == li.opts.ReusePort {
		return nil // unreadable (Windows): nothing to compare
	}
	return fmt.Errorf("reuse_port is %t, but the socket inherited for %s was created with SO_REUSEPORT %s, which cannot change on a bound socket: to apply it, stop and start flipd, or move the listener to another address",
		li.opts.ReusePort, li.addr, map[bool]string{true: "on", false: "off"}[st.ReusePort])
}

// withRawConn calls f with sc's raw conn.
func withRawConn(sc syscall.Conn, f func(syscall.RawConn) error) error {
	c, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	return f(c)
}

// applySocketOptions sets the options of the sockets inherited from the
// previous generation, in place, and logs what the kernel set for every
// listener that asks for options. It runs once this generation serves,
// so that a reload that fails leaves the old generation's options alone.
func (l *loaded) applySocketOptions() {
	for _, li := range l.listeners {
		if !li.opts.set() || li.sock == nil {
			continue
		}
		log := l.log.With("listener", li.name, "address", li.addr.String())
		if li.inherited {
			err := withRawConn(li.sock, func(c syscall.RawConn) error { return li.opts.applyInPlace(c, !li.addr.IsPacket()) })
			if err != nil {
				log.Warn("could not apply the socket options to the inherited socket: it keeps the ones it had", "error", err)
				continue
			}
		}
		var st socketState
		if err := withRawConn(li.sock, func(c syscall.RawConn) (err error) { st, err = readSocket(c); return err }); err != nil {
			log.Warn("could not read the socket options back", "error", err)
			continue
		}
		li.reportOptions(log, st)
	}
}

// servePackets starts every packet listener's server on its socket.
func (l *loaded) servePackets() {
	for _, li := range l.listeners {
		if li.packet == nil {
			continue
		}
		li.served = make(chan error, 1)
		go func(li *listener) { li.served <- li.packet.ServePacket(li.pc) }(li)
	}
}
