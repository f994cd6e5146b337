//go:build linux

package quicroute_test

import (
	"strings"
	"testing"
	"time"
)

// While a new generation starts (it reads the shared socket, but is not
// ready), new connections stay with the old one: the new one may still
// fail, and a connection whose Initial packets reached both generations
// would split its handshake between them. Once the new one is ready,
// they go there.
func TestNewConnectionsGoToTheOldGenerationUntilTheNewOneIsReady(t *testing.T) {
	g := startGens(t, "HELPER_READY_DELAY=3s", "HELPER_GOAWAY_DELAY=1s")
	g.mustGet(g.client(), "/")
	upgraded := make(chan string, 1)
	go func() { upgraded <- g.upgrade(1) }()
	time.Sleep(1 * time.Second) // generation 2 reads the socket and serves, not ready
	for i := 0; i < 12; i++ {
		tr := g.client()
		if gen := genOf(g.mustGet(tr, "/")); gen != "1" {
			t.Fatalf("new connection %d, opened before generation 2 was ready, served by generation %s, want 1", i, gen)
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
