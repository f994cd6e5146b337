package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/engine"
	"github.com/flipd/flipd/upgrade"
)

const config = `{"listeners": {"echo": {"address": "tcp/127.0.0.1:7000", "module": "tcp", "handle": {"module": "echo"}}}}`

func TestLoad(t *testing.T) {
	b := newFake()
	ts := startServer(t, b, engine.AdminConfig{})

	r := ts.do(t, request{method: "POST", path: "/load", body: config})
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var got engine.ReloadResult
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if want := okResult(); got != want {
		t.Errorf("result %+v, want %+v", got, want)
	}
	m := r.json(t)
	if m["duration"] != "6ms" || m["draining_conns"] != float64(2) {
		t.Errorf("body %s: want duration \"6ms\" and draining_conns 2", r.body)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if string(b.lastRaw) != config || b.lastOpts.Source != "api" {
		t.Errorf("backend got %q from %q, want the body from \"api\"", b.lastRaw, b.lastOpts.Source)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"invalid config", &flipd.ConfigError{Field: "listeners.web.address", Err: errors.New("missing port")}, http.StatusBadRequest},
		{"in progress", upgrade.ErrUpgradeInProgress, http.StatusConflict},
		{"already upgraded", upgrade.ErrAlreadyUpgraded, http.StatusConflict},
		{"too many draining", &upgrade.DrainingError{Pids: []int{10, 11}, Max: 2}, http.StatusConflict},
		{"child refused", &upgrade.ChildError{Generation: 4, Pid: 99, Reason: upgrade.ReasonReported,
			Message: "listener web: listen tcp 127.0.0.1:80: bind: address already in use"}, http.StatusUnprocessableEntity},
		{"child exited", &upgrade.ChildError{Generation: 4, Pid: 99, Reason: upgrade.ReasonExited, ExitCode: 2}, http.StatusInternalServerError},
		{"child timed out", &upgrade.ChildError{Generation: 4, Pid: 99, Reason: upgrade.ReasonTimeout, ExitCode: -1, Timeout: time.Second}, http.StatusInternalServerError},
		{"child did not start", &upgrade.ChildError{Generation: 4, Reason: upgrade.ReasonStart, ExitCode: -1, Err: errors.New("no such file")}, http.StatusInternalServerError},
		{"terminating", upgrade.ErrTerminating, http.StatusServiceUnavailable},
		{"wrapped terminating", fmt.Errorf("reload: %w", upgrade.ErrTerminating), http.StatusServiceUnavailable},
		{"other", errOther, http.StatusInternalServerError},
	}
	b := newFake()
	ts := startServer(t, b, engine.AdminConfig{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fail := func(engine.ReloadOptions) (engine.ReloadResult, error) { return engine.ReloadResult{}, tt.err }
			b.mu.Lock()
			b.reload = func(_ []byte, o engine.ReloadOptions) (engine.ReloadResult, error) { return fail(o) }
			b.upgrade = fail
			b.mu.Unlock()
			for _, path := range []string{"/load", "/upgrade"} {
				body := config
				if path == "/upgrade" {
					body = ""
				}
				r := ts.do(t, request{method: "POST", path: path, body: body})
				wantError(t, r, tt.status, tt.err.Error())
				var ce *flipd.ConfigError
				if errors.As(tt.err, &ce) && r.json(t)["field"] != ce.Field {
					t.Errorf("%s: field %v, want %q", path, r.json(t)["field"], ce.Field)
				}
			}
		})
	}
}

func TestLoadRefusesBadJSONBeforeTheBackend(t *testing.T) {
	b := newFake()
	ts := startServer(t, b, engine.AdminConfig{})
	for _, body := range []string{"", "  \n", `{"listeners": `, "not json"} {
		r := ts.do(t, request{method: "POST", path: "/load", body: body})
		wantError(t, r, http.StatusBadRequest, "")
	}
	if calls := b.Calls(); len(calls) != 0 {
		t.Errorf("backend called: %v", calls)
	}
}

func TestUpgrade(t *testing.T) {
	b := newFake()
	ts := startServer(t, b, engine.AdminConfig{})
	for _, body := range []string{"", "{}", " { } "} {
		r := ts.do(t, request{method: "POST", path: "/upgrade", body: body})
		if r.status != http.StatusOK || r.json(t)["generation"] != float64(4) {
			t.Errorf("body %q: %d %s", body, r.status, r.body)
		}
	}
	b.mu.Lock()
	if b.lastOpts.Source != "api" {
		t.Errorf("source %q, want api", b.lastOpts.Source)
	}
	b.mu.Unlock()
	r := ts.do(t, request{method: "POST", path: "/upgrade", body: config})
	wantError(t, r, http.StatusBadRequest, "no body")
	if calls := b.Calls(); strings.Join(calls, ",") != "upgrade,upgrade,upgrade" {
		t.Errorf("calls %v, want three upgrades", calls)
	}
}

func TestStop(t *testing.T) {
	b := newFake()
	ts := startServer(t, b, engine.AdminConfig{})
	r := ts.do(t, request{method: "POST", path: "/stop"})
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if m := r.json(t); m["stopping"] != true || m["pid"] != float64(4003) {
		t.Errorf("body %s", r.body)
	}
	select {
	case <-b.stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop was not called")
	}
}

func TestConfig(t *testing.T) {
	b := newFake()
	b.config = []byte(config)
	ts := startServer(t, b, engine.AdminConfig{})
	r := ts.do(t, request{method: "GET", path: "/config"})
	if r.status != http.StatusOK || string(r.body) != config || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("%d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
}

func TestStatus(t *testing.T) {
	b := newFake()
	now := time.Now().UTC().Truncate(time.Second)
	b.status = engine.Status{
		Generation: 5, Pid: 505, State: engine.StateActive, Started: now.Add(-10 * time.Second),
		Uptime: flipd.Duration(10 * time.Second), OpenConns: 7, Source: "api",
		Older: []engine.OlderGeneration{
			{Generation: 3, Pid: 303, State: engine.StateDraining, Started: now.Add(-time.Hour)},
			{Generation: 4, Pid: 404, State: engine.StateDraining, Started: now.Add(-time.Minute)},
		},
	}
	b.stats = engine.Stats{History: []engine.UpgradeRecord{
		{From: 3, To: 4, Pid: 404, Result: "ok", Source: "api", Started: now.Add(-time.Minute), Duration: flipd.Duration(time.Second)},
		{From: 4, To: 5, Pid: 505, Result: "ok", Source: "api", Started: now.Add(-11 * time.Second), Duration: flipd.Duration(time.Second)},
		{From: 5, To: 6, Pid: 606, Result: "failed", Error: "boom", Source: "api", Started: now, Duration: flipd.Duration(time.Millisecond)},
	}}
	ts := startServer(t, b, engine.AdminConfig{})
	r := ts.do(t, request{method: "GET", path: "/status"})
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	var got struct {
		Generations []struct {
			Generation    int       `json:"generation"`
			Pid           int       `json:"pid"`
			State         string    `json:"state"`
			Started       time.Time `json:"started"`
			Uptime        string    `json:"uptime"`
			OpenConns     *int      `json:"open_conns"`
			DrainingSince time.Time `json:"draining_since"`
		} `json:"generations"`
		Upgrades []struct {
			From, To int
			Result   string `json:"result"`
			Duration string `json:"duration"`
			Error    string `json:"error"`
		} `json:"upgrades"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Generations) != 3 {
		t.Fatalf("generations %+v, want 3", got.Generations)
	}
	cur, g4, g3 := got.Generations[0], got.Generations[1], got.Generations[2]
	if cur.Generation != 5 || cur.Pid != 505 || cur.State != "active" || cur.Uptime != "10s" ||
		cur.OpenConns == nil || *cur.OpenConns != 7 || !cur.DrainingSince.IsZero() || !cur.Started.Equal(now.Add(-10*time.Second)) {
		t.Errorf("current generation %+v", cur)
	}
	if g4.Generation != 4 || g4.Pid != 404 || g4.State != "draining" || g4.OpenConns != nil ||
		!g4.DrainingSince.Equal(now.Add(-10*time.Second)) || g4.Uptime == "" {
		t.Errorf("generation 4 %+v, want draining since the upgrade to 5 ended", g4)
	}
	if g3.Generation != 3 || !g3.DrainingSince.Equal(now.Add(-time.Minute+time.Second)) {
		t.Errorf("generation 3 %+v", g3)
	}
	if len(got.Upgrades) != 3 || got.Upgrades[2].Result != "failed" || got.Upgrades[2].Error != "boom" ||
		got.Upgrades[0].Duration != "1s" || got.Upgrades[0].Result != "ok" {
		t.Errorf("upgrades %+v", got.Upgrades)
	}
}

func TestStatusWithoutHistory(t *testing.T) {
	ts := startServer(t, newFake(), engine.AdminConfig{})
	m := ts.do(t, request{method: "GET", path: "/status"}).json(t)
	if gens, _ := m["generations"].([]any); len(gens) != 1 {
		t.Errorf("generations %v, want this one", m["generations"])
	}
	if ups, ok := m["upgrades"].([]any); !ok || len(ups) != 0 {
		t.Errorf("upgrades %v, want []", m["upgrades"])
	}
}

func TestRouting(t *testing.T) {
	ts := startServer(t, newFake(), engine.AdminConfig{})
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/nope", http.StatusNotFound, ""},
		{"POST", "/load/extra", http.StatusNotFound, ""},
		{"GET", "/load", http.StatusMethodNotAllowed, "POST"},
		{"PUT", "/config", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"DELETE", "/status", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"POST", "/metrics", http.StatusMethodNotAllowed, "GET, HEAD"},
	}
	for _, tt := range tests {
		r := ts.do(t, request{method: tt.method, path: tt.path})
		wantError(t, r, tt.status, tt.path)
		if got := r.header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
	if r := ts.do(t, request{method: "HEAD", path: "/status"}); r.status != http.StatusOK {
		t.Errorf("HEAD /status: %d", r.status)
	}
}
