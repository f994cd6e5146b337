package flipdhttp

import (
	"encoding/json"
	"net/http"

	"github.com/flipd/flipd"
)

func init() {
	flipd.RegisterModule(new(Health))
}

// Health is the "health" handler (ID http.handlers.health): a readiness
// endpoint whose answer follows the generation that serves the request.
// It takes no fields; route a path to it:
//
//	{"match": {"path": "/ready"}, "handle": {"module": "health"}}
//
// It answers, as JSON:
//
//   - 200 {"status": "ready", "generation": N} while the generation
//     serves (or starts, during a reload: the old one still serves);
//   - 503 {"status": "stopping", ...} during upgrade.shutdown_delay, after
//     SIGTERM, SIGINT or POST /stop: the generation still serves every
//     other route, so a load balancer has time to stop sending;
//   - 503 {"status": "draining", ...} once it drains after such a stop;
//   - 200 {"status": "handed_over", ...} from a generation draining
//     because a newer one took over: the service is ready, and only a
//     request on a connection opened before the reload can reach the old
//     generation (whose HTTP/1 answers carry "Connection: close", so the
//     next request opens a connection to the new one). A 503 here would
//     make a keep-alive health check count a failure at every reload.
//
// Answers carry "Cache-Control: no-store". HEAD gets the status alone.
type Health struct {
	generation int
	readiness  func() flipd.Readiness
}

// FlipdModule implements [flipd.Module].
func (*Health) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{
		ID:  "http.handlers.health",
		New: func() flipd.Module { return new(Health) },
	}
}

// Provision implements [flipd.Provisioner]: it takes the generation's
// number and its readiness from ctx.
func (h *Health) Provision(ctx flipd.Context) error {
	h.generation, h.readiness = ctx.Generation(), ctx.Readiness
	return nil
}

// healthAnswer is the body of the health handler's answers.
type healthAnswer struct {
	Status     flipd.Readiness `json:"status"`
	Generation int             `json:"generation"`
}

// ServeHTTP implements [http.Handler].
func (h *Health) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	r := h.readiness()
	status := http.StatusOK
	if !r.Ready() {
		status = http.StatusServiceUnavailable
	}
	b, _ := json.Marshal(healthAnswer{Status: r, Generation: h.generation})
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Interface guards.
var (
	_ http.Handler      = (*Health)(nil)
	_ flipd.Provisioner = (*Health)(nil)
)
