package engine

import (
	"fmt"
	"net"

	"github.com/flipd/flipd"
)

// SocketOptions are a listener's socket options, set in its config next
// to "address" and "module":
//
//	"web": {"address": "tcp/:443", "module": "http", "backlog": 2048, "reuse_port": true, ...}
//	"dns": {"address": "udp/:53", "module": "udp", "recv_buffer": 4194304, ...}
//
// A socket the new generation inherits keeps what it was created with,
// except what the new generation sets again: it applies "backlog",
// "recv_buffer" and "send_buffer" to the inherited socket in place
// (listen(2) again updates a listening socket's backlog; the buffer sizes
// can be set at any time), once it serves. What cannot change on a bound
// socket is refused by the reload, with a message that names the
// listener and the option: "reuse_port" changed, or an option that was
// set is left out (the socket would keep the old value silently). To
// apply those, stop and start flipd, or move the listener to a new
// address (a new socket is opened there).
type SocketOptions struct {
	// Backlog is the length of a TCP or unix listener's accept queue
	// (listen(2)'s backlog; the kernel caps it at net.core.somaxconn).
	// Default: somaxconn, as Go does. Not for udp.
	Backlog int `json:"backlog,omitempty"`
	// ReusePort sets SO_REUSEPORT before bind, so that other sockets
	// with it set (another program's, another flipd's) may bind the same
	// address, and the kernel spreads connections or datagrams among
	// them. flipd's own reloads do not need it: the socket itself passes
	// from one generation to the next. It cannot change on a socket
	// handed over from the previous generation.
	ReusePort bool `json:"reuse_port,omitempty"`
	// RecvBuffer and SendBuffer set SO_RCVBUF and SO_SNDBUF, in bytes
	// (quic-go asks for 7 MiB of receive buffer on UDP). Linux doubles the
	// value for its bookkeeping and caps it at net.core.rmem_max
	// (wmem_max) unless flipd has CAP_NET_ADMIN, in which case it uses
	// SO_RCVBUFFORCE (SO_SNDBUFFORCE); flipd logs what the kernel set,
	// and warns when it is less than asked. Default: the kernel's, which
	// sizes TCP buffers automatically; once set they are fixed.
	RecvBuffer int `json:"recv_buffer,omitempty"`
	SendBuffer int `json:"send_buffer,omitempty"`
}

// socketOptionKeys are the keys of a listener's config that belong to
// SocketOptions, not to its module.
var socketOptionKeys = []string{"backlog", "reuse_port", "recv_buffer", "send_buffer"}

// maxBuffer bounds the buffer sizes: the kernel takes an int and doubles it.
const maxBuffer = 1 << 30

// validate checks the options against the listener's address.
func (o SocketOptions) validate(addr Address) error {
	for _, f := range []struct {
		key string
		v   int
		max int
	}{{"backlog", o.Backlog, 1 << 16}, {"recv_buffer", o.RecvBuffer, maxBuffer}, {"send_buffer", o.SendBuffer, maxBuffer}} {
		if f.v < 0 || f.v > f.max {
			return fmt.Errorf("%q is %d: want a number from 1 to %d, or leave it out for the kernel's default", f.key, f.v, f.max)
		}
	}
	if o.Backlog > 0 && addr.IsPacket() {
		return fmt.Errorf(`"backlog": %s is a datagram socket, which has no accept queue: leave "backlog" out`, addr)
	}
	if o.ReusePort && isUnix(addr.Network) {
		return fmt.Errorf(`"reuse_port": %s is a unix socket, which SO_REUSEPORT does not apply to: leave "reuse_port" out`, addr)
	}
	return nil
}

// set reports whether any option is set.
func (o SocketOptions) set() bool { return o != SocketOptions{} }

// changeError says why a reload from old to o cannot apply o to the
// socket that the listener name inherits, or returns nil. name is the new
// listener; oldName the one that had the socket.
func (o SocketOptions) changeError(old SocketOptions, name, oldName string, addr Address) error {
	how := "stop and start flipd (flipd stop, then flipd run), or move the listener to another address, where a new socket is opened"
	was := ""
	if oldName != name {
		was = fmt.Sprintf(" (listener %q's until now)", oldName)
	}
	if o.ReusePort != old.ReusePort {
		return fmt.Errorf("reuse_port changes from %t to %t, but the new generation inherits the socket of %s%s as it is, and SO_REUSEPORT cannot change on a bound socket: to apply it, %s",
			old.ReusePort, o.ReusePort, addr, was, how)
	}
	for _, f := range []struct {
		key      string
		old, new int
		keep     string
	}{
		{"backlog", old.Backlog, o.Backlog, "set \"backlog\" to the value you want instead (the kernel's default is net.core.somaxconn)"},
		{"recv_buffer", old.RecvBuffer, o.RecvBuffer, "a buffer size once set cannot return to the kernel's automatic sizing on the same socket"},
		{"send_buffer", old.SendBuffer, o.SendBuffer, "a buffer size once set cannot return to the kernel's automatic sizing on the same socket"},
	} {
		if f.old != 0 && f.new == 0 {
			return fmt.Errorf("%s is left out, but the socket of %s%s that the new generation inherits keeps %d: %s; to reset it, %s",
				f.key, addr, was, f.old, f.keep, how)
		}
	}
	return nil
}

// listenConfig creates sockets with the options set before bind.
func (o SocketOptions) listenConfig() *net.ListenConfig {
	return &net.ListenConfig{Control: o.control}
}

// checkSocketChanges refuses a reload from cur to next that changes, on a
// socket the new generation would inherit, an option that cannot change
// on it (see SocketOptions). The error is a *flipd.ConfigError naming the
// listener and the option.
func checkSocketChanges(cur, next *loaded) error {
	old := make(map[Address]*listener, len(cur.listeners))
	for _, li := range cur.listeners {
		old[li.addr] = li
	}
	for _, li := range next.listeners {
		was, ok := old[li.addr]
		if !ok {
			continue
		}
		if err := li.opts.changeError(was.opts, li.name, was.name, li.addr); err != nil {
			return &flipd.ConfigError{Field: "listeners." + li.name, Err: err}
		}
	}
	return nil
}
