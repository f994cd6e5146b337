package upgrade

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// sdNotify reaches a socket in the abstract namespace ("@name"), as
// go-systemd's SdNotify did, as well as one with a path (TestSystemdNotify).
func TestSdNotifyReachesAnAbstractSocket(t *testing.T) {
	name := fmt.Sprintf("@flipd-notify-test-%d", os.Getpid())
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", name)
	if err := sdNotify("READY=1"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("read %q, %v; want READY=1", buf[:n], err)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdNotify("READY=1"); err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v, want nothing sent and no error", err)
	}
}
