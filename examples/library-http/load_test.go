//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	keepAliveClients = 8 // POST in a loop over one keep-alive connection each
	newConnClients   = 4 // GET and POST over a new connection per request
	// pacedClients POST over one keep-alive connection each, every
	// paceEvery: about 2,000 POSTs a second in all, with each connection
	// idle between its requests, as most clients' connections are.
	pacedClients = 32
	paceEvery    = 16 * time.Millisecond
	// maxPerClient bounds each client's loop whatever its context does.
	maxPerClient   = 200_000
	requestTimeout = 10 * time.Second
)

// runLoad starts the clients, which send requests to url until ctx ends;
// the returned func waits for them and closes their connections.
func runLoad(ctx context.Context, url string, tl *tally) (wait func()) {
	var wg sync.WaitGroup
	for i := range keepAliveClients {
		tr := &http.Transport{MaxIdleConnsPerHost: 1}
		wg.Go(func() {
			defer tr.CloseIdleConnections()
			loop(ctx, &http.Client{Transport: tr}, url, tl, "keep-alive", func(int) string { return http.MethodPost }, i)
		})
	}
	for i := range pacedClients {
		tr := &http.Transport{MaxIdleConnsPerHost: 1}
		wg.Go(func() {
			defer tr.CloseIdleConnections()
			tick := time.NewTicker(paceEvery)
			defer tick.Stop()
			loop(ctx, &http.Client{Transport: tr}, url, tl, "paced", func(int) string {
				select {
				case <-tick.C:
				case <-ctx.Done():
				}
				return http.MethodPost
			}, i)
		})
	}
	for i := range newConnClients {
		tr := &http.Transport{DisableKeepAlives: true}
		wg.Go(func() {
			loop(ctx, &http.Client{Transport: tr}, url, tl, "new-conn", func(seq int) string {
				if seq%2 == 0 {
					return http.MethodGet
				}
				return http.MethodPost
			}, i)
		})
	}
	return wg.Wait
}

func loop(ctx context.Context, c *http.Client, url string, tl *tally, kind string, method func(seq int) string, id int) {
	for seq := 0; seq < maxPerClient && ctx.Err() == nil; seq++ {
		body := fmt.Sprintf("client=%s-%d seq=%d", kind, id, seq)
		gen, failure, err := request(c, url, method(seq), body)
		tl.record(kind, gen, failure, err)
	}
}

// request sends one request and checks the answer. It does not use the
// load's context: a request in flight when the load stops must finish.
func request(c *http.Client, url, method, body string) (gen int, failure string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var rd io.Reader
	if method == http.MethodPost {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, "request", err
	}
	var conn connTrace
	req = req.WithContext(httptrace.WithClientTrace(ctx, conn.trace()))
	resp, err := c.Do(req)
	if err != nil {
		return 0, method + " " + errKind(err), fmt.Errorf("%w (%s)", err, &conn)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, method + " reading body: " + errKind(err), err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, method + " status " + resp.Status, fmt.Errorf("%s: %q", resp.Status, b)
	}
	ans, err := parseAnswer(string(b))
	if err != nil {
		return 0, method + " bad answer", err
	}
	if method == http.MethodPost && ans["bytes"] != len(body) {
		return 0, "POST wrong length", fmt.Errorf("sent %d bytes, server read %d", len(body), ans["bytes"])
	}
	return ans["generation"], "", nil
}

// connTrace records which connection a request went out on and when, so
// that a failure can be matched with the server's log.
type connTrace struct {
	mu     sync.Mutex
	local  string
	reused bool
	wrote  time.Time
}

func (ct *connTrace) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			ct.mu.Lock()
			defer ct.mu.Unlock()
			ct.local, ct.reused = info.Conn.LocalAddr().String(), info.Reused
		},
		WroteRequest: func(httptrace.WroteRequestInfo) {
			ct.mu.Lock()
			defer ct.mu.Unlock()
			ct.wrote = time.Now()
		},
	}
}

func (ct *connTrace) String() string {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	wrote := "never"
	if !ct.wrote.IsZero() {
		wrote = fmt.Sprintf("%v before the failure, at %s", time.Since(ct.wrote).Round(time.Microsecond), ct.wrote.UTC().Format("15:04:05.000000"))
	}
	return fmt.Sprintf("connection from %s, reused %v, request written %s", ct.local, ct.reused, wrote)
}

// parseAnswer parses "generation=N pid=P [bytes=K]".
func parseAnswer(s string) (map[string]int, error) {
	ans := make(map[string]int)
	for _, field := range strings.Fields(s) {
		k, v, ok := strings.Cut(field, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			return nil, fmt.Errorf("answer %q: field %q is not key=number", s, field)
		}
		ans[k] = n
	}
	if ans["generation"] < 1 || ans["pid"] < 1 {
		return nil, fmt.Errorf("answer %q: no generation or pid", s)
	}
	return ans, nil
}

func errKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded), os.IsTimeout(err):
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	}
	return "other"
}

// tally counts requests, failures by kind, and answers by generation.
type tally struct {
	mu       sync.Mutex
	requests int
	failures int
	byClient map[string]int    // requests by kind of client
	kinds    map[string]int    // failures by kind
	examples map[string]string // the first error of each kind
	gens     map[int]int       // answers by generation
}

func newTally() *tally {
	return &tally{
		byClient: make(map[string]int),
		kinds:    make(map[string]int),
		examples: make(map[string]string),
		gens:     make(map[int]int),
	}
}

func (tl *tally) record(client string, gen int, failure string, err error) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.requests++
	tl.byClient[client]++
	if failure == "" {
		tl.gens[gen]++
		return
	}
	tl.failures++
	tl.kinds[failure]++
	if _, ok := tl.examples[failure]; !ok {
		tl.examples[failure] = fmt.Sprintf("%s: %v", client, err)
	}
}

func (tl *tally) kindsSummary() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	kinds := make([]string, 0, len(tl.kinds))
	for k := range tl.kinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&b, "\n\t%d × %s (first: %s)", tl.kinds[k], k, tl.examples[k])
	}
	return b.String()
}

func (tl *tally) String() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return fmt.Sprintf("%d requests (%d keep-alive, %d paced keep-alive, %d new-conn), %d failed, served by %d generations",
		tl.requests, tl.byClient["keep-alive"], tl.byClient["paced"], tl.byClient["new-conn"], tl.failures, len(tl.gens))
}
