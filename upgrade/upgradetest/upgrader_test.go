package upgradetest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"

	"github.com/flipd/flipd/upgrade"
)

// upgrader is the part of the API a typical program uses; both the real
// Upgrader and the stub must satisfy it.
type upgrader interface {
	Listen(network, addr string) (net.Listener, error)
	ListenPacket(network, addr string) (net.PacketConn, error)
	Listener(network, addr string) (net.Listener, error)
	Conn(network, addr string) (net.Conn, error)
	File(name string) (*os.File, error)
	Files() ([]*os.File, error)
	Ready() error
	Exit() <-chan struct{}
	Stop()
	Upgrade() error
	UpgradeWith([]byte) error
	WaitForParent(context.Context) error
	HasParent() bool
	Generation() int
	Payload() []byte
	OfferConns(keys []string) error
	AcceptConn() (string, []byte, []*os.File, error)
	StopAcceptingConns() error
	ConnSender() *upgrade.ConnSender
}

var (
	_ upgrader = (*upgrade.Upgrader)(nil)
	_ upgrader = (*Upgrader)(nil)
)

func TestStubServes(t *testing.T) {
	upg, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer upg.Stop()
	if ln, err := upg.Listener("tcp", "127.0.0.1:0"); ln != nil || err != nil {
		t.Fatalf("stub inherited %v, %v", ln, err)
	}
	ln, err := upg.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(ln)
	defer srv.Close()
	if err := upg.Ready(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("got %q", body)
	}
	if err := upg.Upgrade(); !errors.Is(err, upgrade.ErrNotSupported) {
		t.Fatalf("Upgrade() = %v, want ErrNotSupported", err)
	}
	select {
	case <-upg.Exit():
		t.Fatal("Exit closed on a stub")
	default:
	}
	if upg.HasParent() || upg.Generation() != 1 || upg.WaitForParent(context.Background()) != nil {
		t.Fatal("stub claims a parent")
	}
}
