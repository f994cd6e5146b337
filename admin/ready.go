package admin

import (
	"net/http"

	"github.com/flipd/flipd"
)

// readyBody is the answer to GET /ready: the same as the http module's
// "health" handler.
type readyBody struct {
	Status     flipd.Readiness `json:"status"`
	Generation int             `json:"generation"`
}

// handleReady is GET /ready: 200 while the generation that answers serves
// (or has handed over to a newer one), 503 while it waits out
// upgrade.shutdown_delay ("stopping") or drains after a stop
// ("draining"). For probes that reach the admin API (an exec probe, a
// local agent); a load balancer probes a listener's "health" route.
func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	r := s.b.Readiness()
	status := http.StatusOK
	if !r.Ready() {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, readyBody{Status: r, Generation: s.b.Status().Generation})
}
