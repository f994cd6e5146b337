package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/engine"
	"github.com/flipd/flipd/upgrade"
)

// streamLines reads the NDJSON answer of a /load line by line.
type streamLines struct {
	t    *testing.T
	resp *http.Response
	sc   *bufio.Scanner
}

func openStream(t *testing.T, ts *testServer, path, body string) *streamLines {
	t.Helper()
	resp, err := ts.send(request{method: "POST", path: path, body: body, header: map[string]string{"Accept": "application/x-ndjson"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &streamLines{t: t, resp: resp, sc: bufio.NewScanner(resp.Body)}
}

func (s *streamLines) next() map[string]json.RawMessage {
	s.t.Helper()
	if !s.sc.Scan() {
		s.t.Fatalf("stream ended early: %v", s.sc.Err())
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(s.sc.Bytes(), &m); err != nil {
		s.t.Fatalf("line %q: %v", s.sc.Bytes(), err)
	}
	return m
}

func (s *streamLines) progress() engine.Progress {
	s.t.Helper()
	m := s.next()
	var p engine.Progress
	if err := json.Unmarshal(m["progress"], &p); err != nil || len(m) != 1 {
		s.t.Fatalf("line %v is not a progress line", m)
	}
	return p
}

func (s *streamLines) end() {
	s.t.Helper()
	if s.sc.Scan() {
		s.t.Fatalf("line after the last one: %q", s.sc.Bytes())
	}
}

// steppingReload reports progress as the runtime does, and waits for the
// test between "started" and "ready", so that the test sees the first
// lines arrive while the reload is still running.
func steppingReload(release <-chan struct{}, err error) func(opts engine.ReloadOptions) (engine.ReloadResult, error) {
	return func(opts engine.ReloadOptions) (engine.ReloadResult, error) {
		opts.Progress(engine.Progress{Step: "validated", Generation: 4})
		opts.Progress(engine.Progress{Step: "started", Generation: 4, Pid: 4004})
		<-release
		if err != nil {
			return engine.ReloadResult{}, err
		}
		opts.Progress(engine.Progress{Step: "ready", Generation: 4, Pid: 4004, OpenConns: 2})
		return okResult(), nil
	}
}

func TestLoadStreamsProgress(t *testing.T) {
	b := newFake()
	release := make(chan struct{})
	step := steppingReload(release, nil)
	b.reload = func(_ []byte, opts engine.ReloadOptions) (engine.ReloadResult, error) { return step(opts) }
	ts := startServer(t, b, engine.AdminConfig{})

	s := openStream(t, ts, "/load", config)
	if s.resp.StatusCode != http.StatusOK || s.resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("%d %q", s.resp.StatusCode, s.resp.Header.Get("Content-Type"))
	}
	if p := s.progress(); p.Step != "validated" || p.Generation != 4 {
		t.Errorf("first progress %+v", p)
	}
	if p := s.progress(); p.Step != "started" || p.Pid != 4004 {
		t.Errorf("second progress %+v", p)
	}
	close(release) // the two lines above came while the reload ran
	if p := s.progress(); p.Step != "ready" || p.OpenConns != 2 {
		t.Errorf("third progress %+v", p)
	}
	var res engine.ReloadResult
	if err := json.Unmarshal(s.next()["result"], &res); err != nil || res != okResult() {
		t.Errorf("result %+v (%v), want %+v", res, err, okResult())
	}
	s.end()
}

func TestLoadStreamEndsWithTheError(t *testing.T) {
	b := newFake()
	release := make(chan struct{})
	close(release)
	childErr := &upgrade.ChildError{Generation: 4, Pid: 4004, Reason: upgrade.ReasonReported, Message: "bind: address already in use"}
	b.upgrade = steppingReload(release, childErr)
	ts := startServer(t, b, engine.AdminConfig{})

	s := openStream(t, ts, "/upgrade", "")
	s.progress()
	s.progress()
	var last struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	m := s.next()
	raw, _ := json.Marshal(m)
	if err := json.Unmarshal(raw, &last); err != nil || last.Error != childErr.Error() || last.Status != http.StatusUnprocessableEntity {
		t.Errorf("last line %s, want the child's error and 422", raw)
	}
	s.end()
}

func TestLoadStreamInvalidConfigIsAPlain400(t *testing.T) {
	b := newFake()
	b.reload = func([]byte, engine.ReloadOptions) (engine.ReloadResult, error) {
		return engine.ReloadResult{}, &flipd.ConfigError{Field: "listeners.web", Err: errors.New(`unknown module "htp"`)}
	}
	ts := startServer(t, b, engine.AdminConfig{})
	r := ts.do(t, request{method: "POST", path: "/load", body: config, header: map[string]string{"Accept": "application/x-ndjson"}})
	wantError(t, r, http.StatusBadRequest, `listeners.web: unknown module "htp"`)
}

// TestConcurrentLoads sends ten loads at once to a backend that, like the
// runtime, runs one at a time and refuses the others.
func TestConcurrentLoads(t *testing.T) {
	const n = 10
	b := newFake()
	var (
		one              sync.Mutex
		running, maxSeen atomic.Int32
		release          = make(chan struct{})
	)
	b.reload = func([]byte, engine.ReloadOptions) (engine.ReloadResult, error) {
		if !one.TryLock() {
			return engine.ReloadResult{}, upgrade.ErrUpgradeInProgress
		}
		defer one.Unlock()
		r := running.Add(1)
		defer running.Add(-1)
		if r > maxSeen.Load() {
			maxSeen.Store(r)
		}
		<-release // until every other request was refused
		return okResult(), nil
	}
	ts := startServer(t, b, engine.AdminConfig{})

	statuses := make(chan int, n)
	for range n {
		go func() {
			resp, err := ts.send(request{method: "POST", path: "/load", body: config})
			if err != nil {
				t.Error(err)
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	count := map[int]int{}
	for range n - 1 {
		select {
		case s := <-statuses:
			count[s]++
		case <-time.After(10 * time.Second):
			t.Fatalf("only %v answered", count)
		}
	}
	close(release)
	count[<-statuses]++
	if count[http.StatusOK] != 1 || count[http.StatusConflict] != n-1 {
		t.Errorf("statuses %v, want one 200 and %d 409", count, n-1)
	}
	if m := maxSeen.Load(); m != 1 {
		t.Errorf("%d reloads ran at once", m)
	}
}

// TestDrainFinishesALoadInFlight drains the server while a /load waits for
// the new generation, as the runtime does when that generation is ready.
func TestDrainFinishesALoadInFlight(t *testing.T) {
	b := newFake()
	entered, release := make(chan struct{}), make(chan struct{})
	b.reload = func([]byte, engine.ReloadOptions) (engine.ReloadResult, error) {
		close(entered)
		<-release
		return okResult(), nil
	}
	ts := startServer(t, b, engine.AdminConfig{})
	answer := make(chan response, 1)
	go func() {
		resp, err := ts.send(request{method: "POST", path: "/load", body: config})
		if err != nil {
			t.Error(err)
			answer <- response{}
			return
		}
		resp.Body.Close()
		answer <- response{status: resp.StatusCode, closed: resp.Close}
	}()
	<-entered

	drained := make(chan error, 1)
	go func() { drained <- ts.Drain(context.Background()) }()
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v with a /load in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	if ts.OpenConns() != 1 {
		t.Errorf("OpenConns %d during the load, want 1", ts.OpenConns())
	}
	close(release)
	r := <-answer
	if r.status != http.StatusOK || !r.closed {
		t.Errorf("status %d, close %v: want 200 and Connection: close", r.status, r.closed)
	}
	select {
	case err := <-drained:
		if err != nil {
			t.Errorf("Drain: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Drain did not return after the load")
	}
	if err := <-ts.served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	ts.served <- nil // for the cleanup
}
