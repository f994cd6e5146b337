//go:build linux

package main

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// loadLoop sends POSTs (which no client retries, so nothing hides a drop)
// from clients that keep their connection alive and from clients that
// open one per request, and counts every answer by generation and every
// failure with its error and time.
type loadLoop struct {
	quit     chan struct{}
	deadline time.Time // no request starts after it, if set
	wg       sync.WaitGroup
	mu       sync.Mutex
	ok       int64
	failed   int
	errs     map[string]int
	gens     map[int]bool
}

// loadOptions shapes a loadLoop.
type loadOptions struct {
	keepAlive, fresh int           // clients of each kind
	timeout          time.Duration // of each request
	pause            time.Duration // after each answered request
	requests         int           // at most, per client
	within           time.Duration // the load stops by itself after it; never if 0
}

// startLoad is the chaos tests' load: 4 clients, half of them keeping
// their connection alive, that leave the 2 cores to flipd between
// requests.
func startLoad(url string, clients int) *loadLoop {
	return startLoadWith(url, loadOptions{keepAlive: (clients + 1) / 2, fresh: clients / 2,
		timeout: 20 * time.Second, pause: 2 * time.Millisecond, requests: 1_000_000})
}

// startPostLoad is the supervisor tests' load on addr: 8 keep-alive and 4
// new-connection clients for at most 3 minutes.
func startPostLoad(addr string) *loadLoop {
	return startLoadWith("http://"+addr+"/", loadOptions{keepAlive: 8, fresh: 4,
		timeout: 10 * time.Second, requests: 200_000, within: 3 * time.Minute})
}

func startLoadWith(url string, o loadOptions) *loadLoop {
	l := &loadLoop{quit: make(chan struct{}), errs: map[string]int{}, gens: map[int]bool{}}
	if o.within > 0 {
		l.deadline = time.Now().Add(o.within)
	}
	for i := 0; i < o.keepAlive+o.fresh; i++ {
		l.wg.Add(1)
		go l.client(url, i < o.keepAlive, o)
	}
	return l
}

func (l *loadLoop) client(url string, keepAlive bool, o loadOptions) {
	defer l.wg.Done()
	tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: o.timeout}
	for i := 0; i < o.requests; i++ {
		select {
		case <-l.quit:
			return
		default:
		}
		if !l.deadline.IsZero() && time.Now().After(l.deadline) {
			return
		}
		resp, err := c.Post(url, "text/plain", strings.NewReader("payload"))
		if err != nil {
			l.record(0, err.Error())
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			l.record(0, "reading body: "+err.Error())
		case resp.StatusCode != http.StatusOK:
			l.record(0, resp.Status)
		default:
			l.record(answerField(string(b), "generation"), "")
		}
		time.Sleep(o.pause)
	}
}

// record counts an answer from generation gen, or a failure if failure
// is not "".
func (l *loadLoop) record(gen int, failure string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if failure != "" {
		l.failed++
		l.errs[time.Now().Format("15:04:05.000")+" "+failure]++
		return
	}
	l.ok++
	l.gens[gen] = true
}

// failures counts the requests that failed so far.
func (l *loadLoop) failures() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// end stops the clients, waits for the requests in flight, and counts.
// A test where failures are expected (nothing serves) checks by other
// means.
func (l *loadLoop) end() (ok int64, failed int) {
	close(l.quit)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, l.failed
}

// errors lists the failures, most 20 of them, one a line.
func (l *loadLoop) errors() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	errs := make([]string, 0, len(l.errs))
	for e, n := range l.errs {
		errs = append(errs, fmt.Sprintf("%dx %s", n, e))
	}
	sort.Strings(errs)
	if len(errs) > 20 {
		errs = append(errs[:20], "...")
	}
	return "  " + strings.Join(errs, "\n  ")
}

// finish ends the load and fails the test, with d's log, if any request
// failed or none was answered.
func (l *loadLoop) finish(t *testing.T, d *daemon) {
	t.Helper()
	ok, failed := l.end()
	t.Logf("%d requests answered, %d failed", ok, failed)
	if failed > 0 || ok == 0 {
		t.Errorf("%d of %d requests failed:\n%s\nlog:\n%s", failed, ok+int64(failed), l.errors(), d.log())
	}
}

// stop ends the load and fails t if a request failed or none
// was answered.
func (l *loadLoop) stop(t *testing.T) {
	t.Helper()
	ok, failed := l.end()
	t.Logf("%d POSTs answered by %d generations, %d failed", ok, len(l.gens), failed)
	if failed > 0 || ok == 0 {
		t.Errorf("%d of %d POSTs failed:\n%s", failed, ok+int64(failed), l.errors())
	}
}
