package drain_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/flipd/flipd/internal/h2audit"
)

// TestGoHTTP2ClientThroughDrains has Go's HTTP/2 client POST in a loop
// over h2c while new generations take over the listener and the old ones
// drain, ten times. Go's client retries a stream that a GOAWAY refused, so
// a refusal would not fail a POST; a relay on the wire counts them
// instead: none may be refused and none sent twice.
func TestGoHTTP2ClientThroughDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("drains ten times under load")
	}
	const reloads = 10
	cert, pool := selfSigned(t)
	ln := listen(t)
	gen := newH2Server(t, ln, false, cert, echo.ServeHTTP)
	relay, err := h2audit.New(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	load := startH2Load(t, 8, "http://"+relay.Addr()+"/", false, pool)

	var cur net.Listener = ln
	drained := make(chan error, reloads)
	for range reloads {
		time.Sleep(150 * time.Millisecond) // some load on each generation
		old := gen
		cur = dup(t, cur)
		gen = newH2Server(t, cur, false, cert, echo.ServeHTTP)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			drained <- old.Shutdown(ctx)
		}()
	}
	for range reloads {
		if err := <-drained; err != nil {
			t.Errorf("drain: %v", err)
		}
	}
	load.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := gen.Shutdown(ctx); err != nil {
		t.Errorf("last generation's drain: %v", err)
	}
	relay.Close()
	n := relay.Counts()
	failed, errs := load.failures()
	t.Logf("%d POSTs, %d failed; on the wire: %d streams, %d refused, %d connections got GOAWAY",
		load.total(), failed, n.Opened, n.Refused, n.Goaways)
	if failed > 0 {
		t.Errorf("%d POSTs failed: %v", failed, errs)
	}
	if n.Refused != 0 || n.Opened != load.total() {
		t.Errorf("%d streams on the wire for %d POSTs, %d refused: want one each, none refused", n.Opened, load.total(), n.Refused)
	}
}
