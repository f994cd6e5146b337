package upgradetest

import (
	"net"
	"os"
)

// Fds has the methods of upgrade.Fds. Listen and ListenPacket create
// sockets; the methods that look up inherited ones find nothing; the Add
// methods accept and forget.
type Fds struct{}

// Listen calls net.Listen.
func (f *Fds) Listen(network, addr string) (net.Listener, error) { return net.Listen(network, addr) }

// ListenWithCallback calls callback.
func (f *Fds) ListenWithCallback(network, addr string, callback func(network, addr string) (net.Listener, error)) (net.Listener, error) {
	return callback(network, addr)
}

// Listener returns nil: nothing is inherited.
func (f *Fds) Listener(network, addr string) (net.Listener, error) { return nil, nil }

// AddListener does nothing.
func (f *Fds) AddListener(network, addr string, ln net.Listener) error { return nil }

// ListenPacket calls net.ListenPacket.
func (f *Fds) ListenPacket(network, addr string) (net.PacketConn, error) {
	return net.ListenPacket(network, addr)
}

// ListenPacketWithCallback calls callback.
func (f *Fds) ListenPacketWithCallback(network, addr string, callback func(network, addr string) (net.PacketConn, error)) (net.PacketConn, error) {
	return callback(network, addr)
}

// PacketConn returns nil: nothing is inherited.
func (f *Fds) PacketConn(network, addr string) (net.PacketConn, error) { return nil, nil }

// AddPacketConn does nothing.
func (f *Fds) AddPacketConn(network, addr string, conn net.PacketConn) error { return nil }

// Conn returns nil: nothing is inherited.
func (f *Fds) Conn(network, addr string) (net.Conn, error) { return nil, nil }

// AddConn does nothing.
func (f *Fds) AddConn(network, addr string, conn net.Conn) error { return nil }

// File returns nil: nothing is inherited.
func (f *Fds) File(name string) (*os.File, error) { return nil, nil }

// Files returns nothing: nothing is inherited.
func (f *Fds) Files() ([]*os.File, error) { return nil, nil }

// AddFile does nothing.
func (f *Fds) AddFile(name string, file *os.File) error { return nil }
