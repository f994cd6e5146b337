package admin

import (
	"bytes"
	"maps"
	"net/http"
	"slices"

	"github.com/flipd/flipd/engine"
)

// upgradeResults are the results always reported, at zero if need be, so
// that rate() works from the first failure.
var upgradeResults = []string{"ok", "invalid_config", "failed", "refused"}

// The metrics are written in the Prometheus text exposition format by
// hand (metrics_text.go) rather than through client_golang: its package
// initialisation (registries, procfs, protobuf descriptors) ran in every
// generation's start, on the path of every reload, for a page scraped
// now and then.
const (
	upgradesHelp = "Reloads and upgrades by result: ok, invalid_config (refused before a process started), failed (the new generation failed), refused (another upgrade in flight, or too many draining)."
	upgradeHelp  = "How long successful upgrades took, from the request to the new generation's ready."
	drainHelp    = "How long old generations took to drain and exit."
)

// newMetricsHandler serves the metrics of b, with the Go runtime's and
// the process's (the names client_golang's Go and process collectors
// use), read at each scrape.
func newMetricsHandler(b Backend) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		e := &exposition{buf: &buf}
		writeStats(e, b)
		writeGoMetrics(e)
		writeProcessMetrics(e)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Write(buf.Bytes())
	})
}

// writeStats writes the backend's numbers. They are carried from
// generation to generation, so they are read, not counted here, where
// they would restart at zero.
func writeStats(e *exposition, b Backend) {
	stats, st := b.Stats(), b.Status()

	results := slices.Concat(upgradeResults, slices.Sorted(maps.Keys(stats.Upgrades)))
	slices.Sort(results)
	e.family("flipd_upgrades_total", upgradesHelp, "counter")
	for _, r := range slices.Compact(results) {
		e.sample("flipd_upgrades_total", float64(stats.Upgrades[r]), "result", r)
	}
	e.histogram("flipd_upgrade_duration_seconds", upgradeHelp, stats.UpgradeSeconds, engine.UpgradeBuckets)
	e.histogram("flipd_drain_duration_seconds", drainHelp, stats.DrainSeconds, engine.DrainBuckets)
	e.single("flipd_generation", "The number of the generation that answered the scrape.", "gauge", float64(st.Generation))
	e.single("flipd_live_generations", "Live generations: the serving one and the older ones still draining.", "gauge", float64(1+len(st.Older)))
	e.single("flipd_open_connections", "Connections held open by the listeners of the generation that answered.", "gauge", float64(st.OpenConns))
	e.single("flipd_moved_connections_total", "Established connections that moved to a new generation on a reload instead of draining.", "counter", float64(stats.MovedConns))
	e.single("flipd_open_sessions", "Sessions held by the udp listeners (proxy: one per client) of the generation that answered.", "gauge", float64(st.OpenSessions))
}
