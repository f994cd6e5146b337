//go:build linux

package upgrade

import (
	"context"
	"net"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func reusePort(network, address string, c syscall.RawConn) error {
	var err error
	c.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
	return err
}

func TestListenConfigReachesNewListeners(t *testing.T) {
	lc := &net.ListenConfig{Control: reusePort}
	fds := newFds(nil, lc)
	defer fds.closeUsed(unlinkNone)
	ln, err := fds.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Only a socket that has SO_REUSEPORT lets another bind the same port.
	other, err := lc.Listen(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("second SO_REUSEPORT listener on %s: %v", ln.Addr(), err)
	}
	other.Close()

	plain := newFds(nil, nil)
	defer plain.closeUsed(unlinkNone)
	ln2, err := plain.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	if other, err := lc.Listen(context.Background(), "tcp", ln2.Addr().String()); err == nil {
		other.Close()
		t.Fatal("a listener without SO_REUSEPORT shared its port")
	}
}

func TestCanonicalAddr(t *testing.T) {
	for _, tc := range []struct {
		network, addr, want string
		ok                  bool
	}{
		{"tcp", ":8080", "[::]:8080", true},
		{"tcp", "[::]:8080", "[::]:8080", true},
		{"tcp4", ":8080", "0.0.0.0:8080", true},
		{"tcp", "127.0.0.1:80", "127.0.0.1:80", true},
		{"tcp", "[::ffff:127.0.0.1]:80", "127.0.0.1:80", true},
		{"tcp", "127.0.0.1:0", "", false},
		{"tcp", "localhost:80", "", false},
		{"unix", "/run/app.sock", "/run/app.sock", true},
		{"ip", "1.2.3.4", "", false},
	} {
		got, ok := canonicalAddr(tc.network, tc.addr)
		if got != tc.want || ok != tc.ok {
			t.Errorf("canonicalAddr(%q, %q) = %q, %v; want %q, %v", tc.network, tc.addr, got, ok, tc.want, tc.ok)
		}
	}
}

func TestInheritedListenerFoundByEquivalentAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fd, err := dupConn(ln.(*net.TCPListener))
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	fds := newFds(map[fdKey]int{{kindListener, "tcp", addr.String()}: fd}, nil)
	defer fds.closeUsed(unlinkNone)
	got, err := fds.Listener("tcp4", "127.0.0.1:"+strconv.Itoa(addr.Port))
	if err != nil || got == nil {
		t.Fatalf("Listener(tcp4, ...) = %v, %v; want the inherited socket", got, err)
	}
	got.Close()
}
