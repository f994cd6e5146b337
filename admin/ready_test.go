package admin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/engine"
)

// Readiness follows the fake's state, as engine.Instance's does.
func (f *fakeBackend) Readiness() flipd.Readiness {
	switch f.Status().State {
	case engine.StateStopping:
		return flipd.ReadinessStopping
	case engine.StateDraining:
		return flipd.ReadinessDraining
	}
	return flipd.ReadinessReady
}

func (b *countingBackend) Readiness() flipd.Readiness {
	b.reads.Add(1)
	return flipd.ReadinessReady
}

// GET /ready answers 200 while the generation serves and 503 while it
// stops or drains, with the generation's readiness in the body.
func TestReadyFollowsTheGenerationsReadiness(t *testing.T) {
	b := newFake()
	ts := startServer(t, b, engine.AdminConfig{})
	for _, tc := range []struct {
		state  engine.State
		status int
		body   string
	}{
		{engine.StateActive, http.StatusOK, `{"status":"ready","generation":3}`},
		{engine.StateStopping, http.StatusServiceUnavailable, `{"status":"stopping","generation":3}`},
		{engine.StateDraining, http.StatusServiceUnavailable, `{"status":"draining","generation":3}`},
	} {
		b.mu.Lock()
		b.status.State = tc.state
		b.mu.Unlock()
		r := ts.do(t, request{method: "GET", path: "/ready"})
		if r.status != tc.status || strings.TrimSpace(string(r.body)) != tc.body {
			t.Errorf("%s: GET /ready = %d %s, want %d %s", tc.state, r.status, r.body, tc.status, tc.body)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", tc.state, cc)
		}
	}
	if r := ts.do(t, request{method: "POST", path: "/ready"}); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /ready: %d, want 405", r.status)
	}
}

// A reload during upgrade.shutdown_delay is a conflict: the generation is
// stopping, and the answer says so.
func TestLoadWhileStoppingIsAConflict(t *testing.T) {
	b := newFake()
	b.reload = func([]byte, engine.ReloadOptions) (engine.ReloadResult, error) {
		return engine.ReloadResult{}, engine.ErrStopping
	}
	ts := startServer(t, b, engine.AdminConfig{})
	r := ts.do(t, request{method: "POST", path: "/load", body: `{}`})
	if r.status != http.StatusConflict || !strings.Contains(string(r.body), "stopping") {
		t.Fatalf("POST /load while stopping = %d %s, want 409 naming the stop", r.status, r.body)
	}
}
