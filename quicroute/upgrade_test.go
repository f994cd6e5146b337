//go:build linux

package quicroute_test

import (
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

func TestAConnectionOpenedBeforeAnUpgradeIsServedByItsGenerationAfterIt(t *testing.T) {
	g := startGens(t, "HELPER_GOAWAY_DELAY=3s", "HELPER_SLOW=2s")
	old := g.client()
	if gen := genOf(g.mustGet(old, "/")); gen != "1" {
		t.Fatalf("first request served by generation %s, want 1", gen)
	}
	slow := make(chan string, 1)
	go func() { body, err := g.get(old, "/slow"); slow <- body + errString(err) }()
	time.Sleep(300 * time.Millisecond) // the stream is open in generation 1

	if res := g.upgrade(1); !strings.HasPrefix(res, "UPGRADED") {
		t.Fatalf("upgrade: %s", res)
	}
	// Generation 2 reads the socket now; generation 1 has not sent
	// GOAWAY yet, so the old connection takes new requests.
	for i := 0; i < 5; i++ {
		if gen := genOf(g.mustGet(old, "/")); gen != "1" {
			t.Fatalf("request %d on the old connection served by generation %s, want 1", i, gen)
		}
	}
	if body := <-slow; genOf(body) != "1" {
		t.Fatalf("the stream open across the upgrade ended with %q, want generation 1's answer", body)
	}
	if gen := genOf(g.mustGet(g.client(), "/")); gen != "2" {
		t.Fatalf("a new connection is served by generation %s, want 2", gen)
	}
	g.wait("EXIT 1 ")
}

func TestAGenerationWhoseSuccessorServesAnotherPortKeepsReadingItsSocket(t *testing.T) {
	g := startGens(t, "HELPER_GOAWAY_DELAY=6s", "HELPER_ADDR_GEN2=127.0.0.2:0")
	old := g.client()
	g.mustGet(old, "/")
	if res := g.upgrade(1); !strings.HasPrefix(res, "UPGRADED") {
		t.Fatalf("upgrade: %s", res)
	}
	// Past the wait for a successor's hello (2s): generation 1 still
	// reads, since no one else reads its socket.
	time.Sleep(2500 * time.Millisecond)
	for i := 0; i < 3; i++ {
		if gen := genOf(g.mustGet(old, "/")); gen != "1" {
			t.Fatalf("request %d on the old connection served by generation %s, want 1", i, gen)
		}
	}
}

func TestWithoutForwardingTheOldConnectionsFail(t *testing.T) {
	g := startGens(t, "HELPER_GOAWAY_DELAY=8s", "HELPER_NO_FORWARD=1", "HELPER_HANDOVER_DELAY=300ms")
	old := g.client()
	g.mustGet(old, "/")
	if res := g.upgrade(1); !strings.HasPrefix(res, "UPGRADED") {
		t.Fatalf("upgrade: %s", res)
	}
	// Upgrade returns before generation 1 stops reading the socket it
	// shares with generation 2; until then it may still read the request.
	if !g.handedOver(1) {
		t.Fatal("generation 1 did not hand the socket over to generation 2")
	}
	body, err := g.get(old, "/")
	if err == nil && genOf(body) == "1" {
		t.Fatal("the old connection was served after the upgrade without forwarding: the test cannot tell")
	}
	t.Logf("without forwarding: %q, %v", body, err)
}

func TestMalformedAndUnknownPacketsAreDropped(t *testing.T) {
	g := startGens(t)
	tr := g.client()
	g.mustGet(tr, "/")
	c, err := net.Dial("udp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	junk := [][]byte{
		{}, {0x40}, {0xc0, 0, 0}, {0xc0, 0, 0, 0, 1, 200, 1},
		append([]byte{0x41}, make([]byte, 60)...),                  // a short header with an unknown ID
		append([]byte{0xc0, 0, 0, 0, 1, 16}, make([]byte, 40)...),  // a long header cut short
		append([]byte{0x00}, []byte(strings.Repeat("x", 1400))...), // not QUIC at all
	}
	for i := 0; i < 50; i++ {
		for _, b := range junk {
			c.Write(b)
		}
	}
	for i := 0; i < 3; i++ {
		if gen := genOf(g.mustGet(tr, "/")); gen != "1" {
			t.Fatalf("served by generation %s after junk, want 1", gen)
		}
	}
	if gen := genOf(g.mustGet(g.client(), "/")); gen != "1" {
		t.Fatalf("a new connection after junk served by generation %s, want 1", gen)
	}
}

func TestAFailedUpgradeLeavesQUICServingInTheOldGeneration(t *testing.T) {
	g := startGens(t, "HELPER_FAIL_GEN=2")
	old := g.client()
	g.mustGet(old, "/")
	done := make(chan struct{})
	var failed atomic.Int64
	go func() { // requests on the old connection while generation 2 reads the socket
		defer close(done)
		for i := 0; i < 10; i++ {
			if _, err := g.get(old, "/"); err != nil {
				failed.Add(1)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if res := g.upgrade(1); !strings.HasPrefix(res, "UPGRADE-FAILED") {
		t.Fatalf("upgrade: %s, want a failure", res)
	}
	<-done
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d requests failed on the old connection during the failed upgrade", n)
	}
	if gen := genOf(g.mustGet(old, "/")); gen != "1" {
		t.Fatalf("old connection served by generation %s, want 1", gen)
	}
	if gen := genOf(g.mustGet(g.client(), "/")); gen != "1" {
		t.Fatalf("new connection served by generation %s, want 1", gen)
	}
}

func TestTwentyUpgradesUnderHTTP3LoadFailNoRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("20 upgrades: not in -short")
	}
	g := startGens(t, "HELPER_GOAWAY_DELAY=200ms")
	var (
		stop           = make(chan struct{})
		wg             sync.WaitGroup
		served, failed atomic.Int64
		races          atomic.Int64
		firstErr       atomic.Value
	)
	for i := 0; i < 4; i++ {
		tr := g.client()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := g.get(tr, "/")
				if clientClosedOnGoaway(err) {
					races.Add(1)
					_, err = g.get(tr, "/") // never sent: safe to retry, as a browser would
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					served.Add(1)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	for gen := 1; gen <= 20; gen++ {
		for attempt := 0; ; attempt++ { // too many generations may still drain
			res := g.upgrade(gen)
			if strings.HasPrefix(res, "UPGRADED") {
				break
			}
			if attempt == 50 || !strings.Contains(res, "draining") {
				t.Fatalf("upgrade %d: %s", gen, res)
			}
			time.Sleep(100 * time.Millisecond)
		}
		g.pid(gen + 1)
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests served through 20 upgrades, %d failed; %d retried after the client's own GOAWAY race",
		served.Load(), failed.Load(), races.Load())
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d requests failed; first: %v", n, firstErr.Load())
	}
	if served.Load() == 0 {
		t.Fatal("no request was served")
	}
	syscall.Kill(g.pid(21), syscall.SIGTERM)
	g.wait("EXIT 21 ")
	if g.forwarded == 0 {
		t.Fatal("no packet was forwarded: the test did not exercise the routing")
	}
	t.Logf("%d packets forwarded to older generations", g.forwarded)
}

// clientClosedOnGoaway recognises a race inside quic-go's HTTP/3 client
// (v0.65.0, http3/client.go): a request stream opened just as GOAWAY
// arrives is not yet tracked when the client checks for active streams,
// so the client closes the connection itself (H3_NO_ERROR, local) before
// the request is written. The server never saw the request; it happens
// with any server that sends GOAWAY, upgrade or not.
func clientClosedOnGoaway(err error) bool {
	var h3 *http3.Error
	return errors.As(err, &h3) && !h3.Remote && h3.ErrorCode == http3.ErrCodeNoError
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return " error: " + err.Error()
}
