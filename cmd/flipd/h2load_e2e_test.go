//go:build linux

package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/flipd/flipd/internal/h2audit"
)

// h2cConfig serves body on addr over HTTP/1 and h2c (prior knowledge).
func h2cConfig(addr, body string) string {
	return fmt.Sprintf(`{"admin": {"disabled": true}, "upgrade": {"drain_timeout": "10s"}, "listeners": {
		"web": {"address": "tcp/%s", "module": "http", "h2c": true, "routes": [{"handle": {"module": "static_response", "body": %q}}]}}}`, addr, body)
}

var h2loadCounts = regexp.MustCompile(`requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)

// TestH2loadThroughReloads runs h2load, an HTTP/2 client that retries
// nothing, through real flipd reloads, one h2load run per reload (h2load
// opens no new HTTP/2 connection after a GOAWAY: it fails the requests it
// has not sent yet). A relay on the wire counts the streams the old
// generation refused: none may be, and every stream h2load opened on the
// wire must have been answered.
func TestH2loadThroughReloads(t *testing.T) {
	if testing.Short() {
		t.Skip("runs h2load through several reloads")
	}
	bin, err := exec.LookPath("h2load")
	if err != nil {
		t.Skip("h2load not installed (apt-get install nghttp2-client): ", err)
	}
	const reloads = 4
	addr := freeAddr(t)
	d := startFlipd(t, h2cConfig(addr, "generation 0"))
	relay, err := h2audit.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()

	succeeded := 0
	for i := 1; i <= reloads; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out := make(chan []byte, 1)
		go func() {
			b, _ := exec.CommandContext(ctx, bin, "-c16", "-m4", "-n1000000", "http://"+relay.Addr()+"/").CombinedOutput()
			out <- b
		}()
		// Let its 16 connections get going; the reload must find them busy.
		time.Sleep(300 * time.Millisecond)
		old := d.pid()
		d.reload(h2cConfig(addr, fmt.Sprintf("generation %d", i)))
		b := <-out
		cancel()
		m := h2loadCounts.FindSubmatch(b)
		if m == nil {
			t.Fatalf("reload %d: no request counts in h2load's output:\n%s", i, b)
		}
		done, _ := strconv.Atoi(string(m[3]))
		ok, _ := strconv.Atoi(string(m[4]))
		succeeded += ok
		t.Logf("reload %d: h2load %s", i, m[0])
		t.Logf("reload %d: %d streams failed after h2load had started them", i, done-ok)
		d.waitExit(old)
	}
	relay.Close()
	n := relay.Counts()
	t.Logf("on the wire through %d reloads: %d streams opened, %d refused by the old generation, %d connections got GOAWAY",
		reloads, n.Opened, n.Refused, n.Goaways)
	if n.Refused != 0 {
		t.Errorf("the old generations refused %d of %d streams through %d reloads, want 0", n.Refused, n.Opened, reloads)
	}
	if succeeded != n.Opened {
		t.Errorf("h2load got %d answers to the %d streams it opened on the wire, want all", succeeded, n.Opened)
	}
	if n.Goaways == 0 {
		t.Error("no connection got GOAWAY: the reloads did not happen under h2load")
	}
}
