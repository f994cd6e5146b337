package admin

import (
	"maps"
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flipd/flipd/engine"
)

// upgradeResults are the results always reported, at zero if need be, so
// that rate() works from the first failure.
var upgradeResults = []string{"ok", "invalid_config", "failed", "refused"}

var (
	upgradesDesc = prometheus.NewDesc("flipd_upgrades_total",
		"Reloads and upgrades by result: ok, invalid_config (refused before a process started), failed (the new generation failed), refused (another upgrade in flight, or too many draining).",
		[]string{"result"}, nil)
	upgradeSecondsDesc = prometheus.NewDesc("flipd_upgrade_duration_seconds",
		"How long successful upgrades took, from the request to the new generation's ready.", nil, nil)
	drainSecondsDesc = prometheus.NewDesc("flipd_drain_duration_seconds",
		"How long old generations took to drain and exit.", nil, nil)
	generationDesc = prometheus.NewDesc("flipd_generation",
		"The number of the generation that answered the scrape.", nil, nil)
	liveDesc = prometheus.NewDesc("flipd_live_generations",
		"Live generations: the serving one and the older ones still draining.", nil, nil)
	openConnsDesc = prometheus.NewDesc("flipd_open_connections",
		"Connections held open by the listeners of the generation that answered.", nil, nil)
	movedConnsDesc = prometheus.NewDesc("flipd_moved_connections_total",
		"Established connections that moved to a new generation on a reload instead of draining.", nil, nil)
	openSessionsDesc = prometheus.NewDesc("flipd_open_sessions",
		"Sessions held by the udp listeners (proxy: one per client) of the generation that answered.", nil, nil)
)

// newMetricsHandler serves the metrics of b, with the Go and process
// collectors, from a registry of its own: every generation builds a new
// one, and the default registry would refuse the second.
func newMetricsHandler(b Backend) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		statsCollector{b},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// statsCollector reports the backend's numbers at scrape time. They are
// carried from generation to generation, so they are emitted as constant
// metrics rather than counted here, where they would restart at zero.
type statsCollector struct{ b Backend }

// Describe implements [prometheus.Collector].
func (statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{upgradesDesc, upgradeSecondsDesc, drainSecondsDesc, generationDesc, liveDesc, openConnsDesc, movedConnsDesc, openSessionsDesc} {
		ch <- d
	}
}

// Collect implements [prometheus.Collector].
func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	stats, st := c.b.Stats(), c.b.Status()

	results := slices.Concat(upgradeResults, slices.Sorted(maps.Keys(stats.Upgrades)))
	slices.Sort(results)
	for _, r := range slices.Compact(results) {
		ch <- prometheus.MustNewConstMetric(upgradesDesc, prometheus.CounterValue, float64(stats.Upgrades[r]), r)
	}
	ch <- constHistogram(upgradeSecondsDesc, stats.UpgradeSeconds, engine.UpgradeBuckets)
	ch <- constHistogram(drainSecondsDesc, stats.DrainSeconds, engine.DrainBuckets)
	ch <- prometheus.MustNewConstMetric(generationDesc, prometheus.GaugeValue, float64(st.Generation))
	ch <- prometheus.MustNewConstMetric(liveDesc, prometheus.GaugeValue, float64(1+len(st.Older)))
	ch <- prometheus.MustNewConstMetric(openConnsDesc, prometheus.GaugeValue, float64(st.OpenConns))
	ch <- prometheus.MustNewConstMetric(movedConnsDesc, prometheus.CounterValue, float64(stats.MovedConns))
	ch <- prometheus.MustNewConstMetric(openSessionsDesc, prometheus.GaugeValue, float64(st.OpenSessions))
}

// constHistogram turns h into a Prometheus histogram; a histogram with no
// observation yet has the default bounds, all at zero.
func constHistogram(desc *prometheus.Desc, h engine.Histogram, bounds []float64) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bounds))
	if len(h.Bounds) > 0 && len(h.Bounds) == len(h.Buckets) {
		for i, b := range h.Bounds {
			buckets[b] = h.Buckets[i]
		}
	} else {
		for _, b := range bounds {
			buckets[b] = 0
		}
	}
	return prometheus.MustNewConstHistogram(desc, h.Count, h.Sum, buckets)
}

var _ prometheus.Collector = statsCollector{}
