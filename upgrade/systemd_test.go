//go:build linux

package upgrade

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// notifySocket is a real unixgram socket standing in for systemd's.
type notifySocket struct {
	t    *testing.T
	path string
	conn *net.UnixConn
}

func newNotifySocket(t *testing.T) *notifySocket {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &notifySocket{t, path, conn}
}

func (n *notifySocket) next() string {
	n.t.Helper()
	buf := make([]byte, 4096)
	n.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	k, err := n.conn.Read(buf)
	if err != nil {
		n.t.Fatalf("no sd_notify message: %v", err)
	}
	return string(buf[:k])
}

func TestSystemdNotify(t *testing.T) {
	sock := newNotifySocket(t)
	p := startHelper(t, "", "NOTIFY_SOCKET="+sock.path, "HELPER_TIMEOUT=2s")
	if got, want := sock.next(), fmt.Sprintf("MAINPID=%d\nREADY=1", p.cmd.Process.Pid); got != want {
		t.Fatalf("generation 1 sent %q, want %q", got, want)
	}

	reloading := regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=\d+\n$`)
	g2 := p.mustUpgrade(2)
	if got := sock.next(); !reloading.MatchString(got) {
		t.Fatalf("upgrade sent %q, want RELOADING=1 with MONOTONIC_USEC", got)
	}
	if got, want := sock.next(), fmt.Sprintf("MAINPID=%d\nREADY=1", g2.pid); got != want {
		t.Fatalf("generation 2 sent %q, want %q", got, want)
	}

	// A failed upgrade ends the reload with the old generation as main.
	p.setMode("report")
	if res := p.upgrade(""); res.OK {
		t.Fatal("upgrade succeeded in report mode")
	}
	if got := sock.next(); !reloading.MatchString(got) {
		t.Fatalf("upgrade sent %q, want RELOADING=1", got)
	}
	if got, want := sock.next(), fmt.Sprintf("MAINPID=%d\nREADY=1", g2.pid); got != want {
		t.Fatalf("after the failed upgrade: %q, want %q", got, want)
	}
}

// Sockets passed by systemd socket activation are inherited like a
// parent's, and handed on at the next upgrade.
func TestSystemdSocketActivation(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("needs sh to set LISTEN_PID to the started process's pid")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := startHelperWith(t, "", func(cmd *exec.Cmd) {
		// systemd sets LISTEN_PID after fork; sh's exec keeps its pid.
		cmd.Args = append([]string{"sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, cmd.Path}, cmd.Args[1:]...)
		cmd.Path, _ = exec.LookPath("sh")
		cmd.ExtraFiles = []*os.File{f}
		cmd.Env = append(cmd.Env, "LISTEN_FDS=1", "LISTEN_FDNAMES=web")
	}, "HELPER_ADDR="+addr)
	f.Close()

	if p.addr != addr {
		t.Fatalf("helper serves %s, want the activated socket %s", p.addr, addr)
	}
	if info := p.info(); strings.Join(info.Inherited, ",") != "tcp:"+addr {
		t.Fatalf("generation 1 inherited %v, want the activated socket", info.Inherited)
	}
	p.mustUpgrade(2)
	if info := p.infoFrom(2); strings.Join(info.Inherited, ",") != "tcp:"+addr {
		t.Fatalf("generation 2 inherited %v", info.Inherited)
	}
}
