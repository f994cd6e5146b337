package drain_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flipd/flipd/internal/h2audit"
)

// h2loadResult is what h2load counted.
type h2loadResult struct {
	total, done, succeeded, failed, errored, timeout int
	out                                              string
}

var h2loadRequests = regexp.MustCompile(`requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)

// runH2load runs nghttp2's h2load, an HTTP/2 client that does not retry a
// refused stream, with args, and parses its count of requests. It skips
// the test when h2load is not installed.
func runH2load(t *testing.T, ctx context.Context, args ...string) (h2loadResult, error) {
	t.Helper()
	bin, err := exec.LookPath("h2load")
	if err != nil {
		t.Skip("h2load not installed (apt-get install nghttp2-client): ", err)
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	r := h2loadResult{out: string(out)}
	m := h2loadRequests.FindStringSubmatch(r.out)
	if m == nil {
		return r, fmt.Errorf("h2load %v: no request counts in its output (%v):\n%s", args, err, out)
	}
	for i, p := range []*int{&r.total, &r.done, &r.succeeded, &r.failed, &r.errored, &r.timeout} {
		*p, _ = strconv.Atoi(m[i+1])
	}
	return r, err
}

func (r h2loadResult) String() string {
	return fmt.Sprintf("%d total, %d done, %d succeeded, %d failed, %d errored, %d timeout",
		r.total, r.done, r.succeeded, r.failed, r.errored, r.timeout)
}

// TestH2loadThroughDrains runs h2load (16 connections, 4 streams each)
// against a drain.Server and, while it runs, has a new generation take
// over the listener and the old one drain; several times, with an h2load
// run for each drain, since h2load does not open a new HTTP/2 connection
// after a GOAWAY: it fails the requests it has yet to send. Nor does it
// retry a stream that a GOAWAY refuses: a refused stream is one more
// failed request. For h2c a relay in between counts the streams the
// server refused; none may be.
func TestH2loadThroughDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("runs h2load through several drains")
	}
	if _, err := exec.LookPath("h2load"); err != nil {
		t.Skip("h2load not installed (apt-get install nghttp2-client): ", err)
	}
	for _, tt := range transports {
		t.Run(tt.name, func(t *testing.T) { testH2loadThroughDrains(t, tt.tls) })
	}
}

func testH2loadThroughDrains(t *testing.T, useTLS bool) {
	const reloads = 5
	cert, _ := selfSigned(t)
	ln := listen(t)
	var served atomic.Int64
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Write([]byte("ok"))
	})
	gen := newH2Server(t, ln, useTLS, cert, ok)
	url := "https://" + ln.Addr().String() + "/"
	var audit *h2audit.Relay
	if !useTLS {
		var err error
		if audit, err = h2audit.New(ln.Addr().String()); err != nil {
			t.Fatal(err)
		}
		defer audit.Close()
		url = "http://" + audit.Addr() + "/"
	}

	var cur net.Listener = ln
	var sum h2loadResult
	for i := range reloads {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		got := make(chan h2loadResult, 1)
		go func() {
			r, err := runH2load(t, ctx, "-c16", "-m4", "-n1000000", url)
			if err != nil && r.total == 0 {
				t.Error(err)
			}
			got <- r
		}()
		before := served.Load()
		waitFor(t, "h2load to be under way", func() bool { return served.Load() > before+2000 })

		// The new generation takes a copy of the socket before the old
		// one closes its own, as a handover passes it on.
		old := gen
		cur = dup(t, cur)
		gen = newH2Server(t, cur, useTLS, cert, ok)
		drainCtx, drainCancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := old.Shutdown(drainCtx); err != nil {
			t.Errorf("drain %d: %v", i, err)
		}
		drainCancel()
		r := <-got
		cancel()
		t.Logf("reload %d: h2load %v; %d streams failed after they started", i, r, r.done-r.succeeded)
		sum.add(r)
	}
	t.Logf("h2load through %d drains: %v", reloads, sum)
	if audit != nil {
		audit.Close()
		n := audit.Counts()
		opened, refused, goaways := n.Opened, n.Refused, n.Goaways
		t.Logf("on the wire: %d streams opened, %d refused by the server, %d connections got GOAWAY", opened, refused, goaways)
		if refused != 0 {
			t.Errorf("the server refused %d of %d streams through %d drains, want 0", refused, opened, reloads)
		}
		// What h2load failed beyond that, it failed without sending it.
		if sum.succeeded != opened {
			t.Errorf("h2load got %d answers to the %d streams it opened on the wire, want all", sum.succeeded, opened)
		}
	}
}

func (r *h2loadResult) add(o h2loadResult) {
	r.total += o.total
	r.done += o.done
	r.succeeded += o.succeeded
	r.failed += o.failed
	r.errored += o.errored
	r.timeout += o.timeout
}
