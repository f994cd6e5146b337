package upgrade

import (
	"errors"
	"io"
	"net"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// A generation that has drained and is about to exit stops taking
// connections: what the parent sent before is still received (so it can be
// passed on), and a Send after that fails, so the parent keeps the
// connection instead of losing it with the exiting process.
func TestAGenerationThatStopsAcceptingConnsGetsWhatWasQueuedAndTheParentKeepsTheRest(t *testing.T) {
	parentEnd, childFd, err := newConnsPair()
	if err != nil {
		t.Fatal(err)
	}
	r, err := newConnReceiver(childFd)
	if err != nil {
		t.Fatal(err)
	}
	child := &Upgrader{connsIn: r, log: hclog.NewNullLogger()}
	if err := child.OfferConns([]string{"k"}); err != nil {
		t.Fatal(err)
	}
	sender := openSender(parentEnd, hclog.NewNullLogger())
	defer sender.Close()

	tcp := func() *net.TCPConn {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.TCPConn)
	}
	if err := sender.Send("k", []byte("queued"), tcp()); err != nil {
		t.Fatalf("sending before the stop: %v", err)
	}
	if err := child.StopAcceptingConns(); err != nil {
		t.Fatal(err)
	}
	if err := sender.Send("k", []byte("late"), tcp()); err == nil {
		t.Fatal("a Send after the child stopped accepting succeeded: that connection would die with the child")
	}
	key, state, files, err := child.AcceptConn()
	if err != nil || key != "k" || string(state) != "queued" || len(files) != 1 {
		t.Fatalf("AcceptConn after the stop: %q %q %d files, %v; want the queued connection", key, state, len(files), err)
	}
	files[0].Close()
	if _, _, _, err := child.AcceptConn(); !errors.Is(err, io.EOF) {
		t.Fatalf("AcceptConn once the queue is empty: %v, want io.EOF", err)
	}
}
