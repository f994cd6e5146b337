//go:build linux

package quicroute_test

import (
	"strings"
	"testing"
	"time"
)

// As soon as a new generation reads the shared socket (it serves, but is
// not ready yet), new connections go to it, whichever generation reads
// their packets: one that began in the old generation would be told
// GOAWAY as soon as the new one is ready (with back-to-back upgrades the
// retry of a request refused then landed on another such connection),
// and a connection whose Initial packets reached both would split its
// handshake between them.
func TestNewConnectionsGoToTheNewGenerationAsSoonAsItReadsTheSocket(t *testing.T) {
	g := startGens(t, "HELPER_READY_DELAY=3s", "HELPER_GOAWAY_DELAY=1s")
	g.mustGet(g.client(), "/")
	upgraded := make(chan string, 1)
	go func() { upgraded <- g.upgrade(1) }()
	time.Sleep(1 * time.Second) // generation 2 reads the socket and serves, not ready
	for i := 0; i < 12; i++ {
		tr := g.client()
		if gen := genOf(g.mustGet(tr, "/")); gen != "2" {
			t.Fatalf("new connection %d, opened while generation 2 starts, served by generation %s, want 2", i, gen)
		}
		tr.Close()
	}
	if res := <-upgraded; !strings.HasPrefix(res, "UPGRADED") {
		t.Fatalf("upgrade: %s", res)
	}
	for i := 0; i < 5; i++ {
		tr := g.client()
		if gen := genOf(g.mustGet(tr, "/")); gen != "2" {
			t.Fatalf("new connection %d, opened after the upgrade, served by generation %s, want 2", i, gen)
		}
		tr.Close()
	}
	g.wait("EXIT 1 ")
}
