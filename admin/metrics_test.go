package admin

import (
	"bytes"
	"net/http"
	"runtime"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/flipd/flipd/engine"
)

func scrape(t *testing.T, ts *testServer) map[string]*dto.MetricFamily {
	t.Helper()
	r := ts.do(t, request{method: "GET", path: "/metrics"})
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("parsing the metrics: %v\n%s", err, r.body)
	}
	return families
}

func gauge(t *testing.T, families map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	f := families[name]
	if f == nil || f.GetType() != dto.MetricType_GAUGE || len(f.Metric) != 1 {
		t.Fatalf("%s: %v, want one gauge", name, f)
	}
	return f.Metric[0].GetGauge().GetValue()
}

func TestMetrics(t *testing.T) {
	b := newFake()
	b.status = engine.Status{Generation: 7, Pid: 707, State: engine.StateActive, OpenConns: 5, OpenSessions: 4, Older: []engine.OlderGeneration{
		{Generation: 5, Pid: 505, State: engine.StateDraining, Started: time.Now()},
		{Generation: 6, Pid: 606, State: engine.StateDraining, Started: time.Now()},
	}}
	b.stats = engine.Stats{
		Upgrades: map[string]uint64{"ok": 3, "failed": 1, "weird": 2},
		UpgradeSeconds: engine.Histogram{Count: 3, Sum: 1.5, Bounds: engine.UpgradeBuckets,
			Buckets: []uint64{0, 0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 3, 3}},
		DrainSeconds: engine.Histogram{Count: 1, Sum: 12, Bounds: engine.DrainBuckets,
			Buckets: []uint64{0, 0, 0, 0, 0, 0, 1, 1, 1, 1}},
	}
	ts := startServer(t, b, engine.AdminConfig{})
	families := scrape(t, ts)

	upgrades := families["flipd_upgrades_total"]
	if upgrades == nil || upgrades.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("flipd_upgrades_total: %v", upgrades)
	}
	got := map[string]float64{}
	for _, m := range upgrades.Metric {
		got[m.Label[0].GetValue()] = m.GetCounter().GetValue()
	}
	want := map[string]float64{"ok": 3, "failed": 1, "invalid_config": 0, "refused": 0, "weird": 2}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("flipd_upgrades_total{result=%q} = %v, want %v (all: %v)", k, g, v, got)
		}
	}

	h := families["flipd_upgrade_duration_seconds"]
	if h == nil || h.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("flipd_upgrade_duration_seconds: %v", h)
	}
	hist := h.Metric[0].GetHistogram()
	if hist.GetSampleCount() != 3 || hist.GetSampleSum() != 1.5 || len(hist.Bucket) < len(engine.UpgradeBuckets) {
		t.Errorf("upgrade histogram %v", hist)
	}
	for _, bk := range hist.Bucket {
		if bk.GetUpperBound() == 0.5 && bk.GetCumulativeCount() != 2 {
			t.Errorf("bucket le=0.5: %d, want 2", bk.GetCumulativeCount())
		}
	}
	d := families["flipd_drain_duration_seconds"]
	if d == nil || d.GetType() != dto.MetricType_HISTOGRAM || d.Metric[0].GetHistogram().GetSampleCount() != 1 ||
		d.Metric[0].GetHistogram().GetSampleSum() != 12 {
		t.Errorf("flipd_drain_duration_seconds: %v", d)
	}

	if g := gauge(t, families, "flipd_generation"); g != 7 {
		t.Errorf("flipd_generation %v, want 7", g)
	}
	if g := gauge(t, families, "flipd_live_generations"); g != 3 {
		t.Errorf("flipd_live_generations %v, want 3", g)
	}
	if g := gauge(t, families, "flipd_open_connections"); g != 5 {
		t.Errorf("flipd_open_connections %v, want 5", g)
	}
	if g := gauge(t, families, "flipd_open_sessions"); g != 4 {
		t.Errorf("flipd_open_sessions %v, want 4", g)
	}
	if families["go_goroutines"] == nil {
		t.Error("no Go collector metrics")
	}
	if runtime.GOOS == "linux" && families["process_cpu_seconds_total"] == nil {
		t.Error("no process collector metrics")
	}

	// The numbers are read at each scrape.
	b.mu.Lock()
	b.stats.Upgrades["ok"] = 4
	b.status.Generation = 8
	b.mu.Unlock()
	families = scrape(t, ts)
	if g := gauge(t, families, "flipd_generation"); g != 8 {
		t.Errorf("flipd_generation after a reload %v, want 8", g)
	}
}

func TestMetricsBeforeAnyUpgrade(t *testing.T) {
	ts := startServer(t, newFake(), engine.AdminConfig{})
	families := scrape(t, ts)
	for _, name := range []string{"flipd_upgrade_duration_seconds", "flipd_drain_duration_seconds"} {
		f := families[name]
		if f == nil || f.Metric[0].GetHistogram().GetSampleCount() != 0 || len(f.Metric[0].GetHistogram().Bucket) == 0 {
			t.Errorf("%s: %v, want an empty histogram with its buckets", name, f)
		}
	}
	if g := gauge(t, families, "flipd_live_generations"); g != 1 {
		t.Errorf("flipd_live_generations %v, want 1", g)
	}
}
