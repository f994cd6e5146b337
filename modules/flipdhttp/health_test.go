package flipdhttp

import (
	"encoding/json"
	"testing"

	"github.com/flipd/flipd"
)

// The health handler answers with the generation's readiness: 200 while it
// serves or after it handed over, 503 while it stops or drains after a
// stop; every other route still answers meanwhile.
func TestHealthAnswersWithTheGenerationsReadiness(t *testing.T) {
	ts := start(t, `{"module": "http", "routes": [
		{"match": {"path": "/ready"}, "handle": {"module": "health"}},
		{"handle": {"module": "static_response", "body": "hello"}}
	]}`, nil)
	h, ok := ts.Routes[0].handler.(*Health)
	if !ok {
		t.Fatalf("route 0's handler is %T, want *Health", ts.Routes[0].handler)
	}
	c := newClient(t)
	if got := do(t, c, "GET", ts.url("/ready"), ""); got.status != 200 || got.body != `{"status":"ready","generation":1}`+"\n" {
		t.Fatalf("GET /ready from a Context that serves nothing = %d %q, want 200 ready", got.status, got.body)
	}
	for _, tc := range []struct {
		state  flipd.Readiness
		status int
	}{
		{flipd.ReadinessReady, 200},
		{flipd.ReadinessStopping, 503},
		{flipd.ReadinessDraining, 503},
		{flipd.ReadinessHandedOver, 200},
	} {
		h.readiness = func() flipd.Readiness { return tc.state }
		got := do(t, c, "GET", ts.url("/ready"), "")
		var body healthAnswer
		if err := json.Unmarshal([]byte(got.body), &body); err != nil {
			t.Fatalf("%s: the answer %q is not JSON: %v", tc.state, got.body, err)
		}
		if got.status != tc.status || body.Status != tc.state || body.Generation != 1 {
			t.Errorf("%s: GET /ready = %d %q, want %d with status %q, generation 1", tc.state, got.status, got.body, tc.status, tc.state)
		}
		if ct, cc := got.header.Get("Content-Type"), got.header.Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
			t.Errorf("%s: Content-Type %q, Cache-Control %q; want application/json, no-store", tc.state, ct, cc)
		}
		if head := do(t, c, "HEAD", ts.url("/ready"), ""); head.status != tc.status || head.body != "" {
			t.Errorf("%s: HEAD /ready = %d %q, want %d and no body", tc.state, head.status, head.body, tc.status)
		}
		if other := do(t, c, "GET", ts.url("/"), ""); other.status != 200 || other.body != "hello" {
			t.Errorf("%s: GET / = %d %q, want 200 hello: only the readiness route turns unready", tc.state, other.status, other.body)
		}
	}
}

// The handler takes no fields: a misspelt config is refused.
func TestHealthRefusesFields(t *testing.T) {
	_, err := load(t, nil, `{"module": "http", "routes": [{"handle": {"module": "health", "path": "/ready"}}]}`)
	if err == nil {
		t.Fatal("a health handler with a field was accepted")
	}
}
