package admin

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd/engine"
)

// notStopped fails the test if the backend was told to stop.
func notStopped(t *testing.T, b *fakeBackend) {
	t.Helper()
	select {
	case <-b.stopped:
		t.Fatal("the backend was told to stop")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestStopAfterThisGenerationHandedOverIsRefused(t *testing.T) {
	for _, path := range []string{"/load", "/upgrade"} {
		t.Run(path, func(t *testing.T) {
			b := newFake()
			ts := startServer(t, b, engine.AdminConfig{})
			body := config
			if path == "/upgrade" {
				body = "{}"
			}
			if r := ts.do(t, request{method: "POST", path: path, body: body}); r.status != http.StatusOK {
				t.Fatalf("POST %s: %d %s", path, r.status, r.body)
			}
			r := ts.do(t, request{method: "POST", path: "/stop"})
			wantError(t, r, http.StatusConflict, "already handed over")
			if msg := r.json(t)["error"].(string); !strings.Contains(msg, "4004") {
				t.Errorf("the refusal %q does not name the pid that serves now (4004)", msg)
			}
			notStopped(t, b)
		})
	}
}

func TestStopToADrainingGenerationIsRefused(t *testing.T) {
	// A handover that came another way (SIGHUP, flipd reload through an
	// earlier connection): the generation only knows it drains.
	b := newFake()
	b.status.State = engine.StateDraining
	ts := startServer(t, b, engine.AdminConfig{})
	r := ts.do(t, request{method: "POST", path: "/stop"})
	wantError(t, r, http.StatusConflict, "already handed over")
	notStopped(t, b)
}

func TestStopTwiceStopsOnceAndAnswersBoth(t *testing.T) {
	b := newFake()
	ts := startServer(t, b, engine.AdminConfig{})
	for i := range 2 {
		r := ts.do(t, request{method: "POST", path: "/stop"})
		if r.status != http.StatusAccepted {
			t.Fatalf("POST /stop #%d: %d %s", i+1, r.status, r.body)
		}
		// The real backend drains once stopped; the second stop
		// must still not read that as a handover.
		b.mu.Lock()
		b.status.State = engine.StateDraining
		b.mu.Unlock()
	}
	<-b.stopped
}

func TestFailedLoadDoesNotCountAsAHandover(t *testing.T) {
	b := newFake()
	b.reload = func([]byte, engine.ReloadOptions) (engine.ReloadResult, error) {
		return engine.ReloadResult{}, errOther
	}
	ts := startServer(t, b, engine.AdminConfig{})
	if r := ts.do(t, request{method: "POST", path: "/load", body: config}); r.status == http.StatusOK {
		t.Fatalf("POST /load: %d %s", r.status, r.body)
	}
	if r := ts.do(t, request{method: "POST", path: "/stop"}); r.status != http.StatusAccepted {
		t.Fatalf("POST /stop after a failed load: %d %s", r.status, r.body)
	}
	<-b.stopped
}
