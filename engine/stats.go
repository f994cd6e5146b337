package engine

import (
	"time"

	"github.com/flipd/flipd"
)

// Stats are the numbers that outlive a generation: each new generation
// gets its parent's and goes on counting, so metrics do not reset at every
// reload.
type Stats struct {
	// Upgrades counts reloads by result: "ok", "invalid_config" (refused
	// before a process started), "failed" (the new generation failed),
	// "refused" (another upgrade in flight, or too many draining).
	Upgrades map[string]uint64 `json:"upgrades"`
	// UpgradeSeconds is how long successful reloads took, from the request
	// to the new generation's ready.
	UpgradeSeconds Histogram `json:"upgrade_seconds"`
	// DrainSeconds is how long old generations took to drain and exit.
	DrainSeconds Histogram `json:"drain_seconds"`
	// MovedConns counts the connections that moved to a new generation
	// instead of draining (counted where they arrived).
	MovedConns uint64 `json:"moved_conns"`
	// History holds the most recent reloads, oldest first.
	History []UpgradeRecord `json:"history"`
}

// UpgradeRecord is one reload.
type UpgradeRecord struct {
	// From is the generation that was serving; To the one it started.
	From int `json:"from"`
	To   int `json:"to"`
	// Pid of the new process, if it started.
	Pid      int            `json:"pid,omitempty"`
	Result   string         `json:"result"`
	Error    string         `json:"error,omitempty"`
	Source   string         `json:"source,omitempty"`
	Started  time.Time      `json:"started"`
	Duration flipd.Duration `json:"duration"`
}

// historyLen bounds Stats.History.
const historyLen = 20

// Bucket bounds, in seconds, of the histograms.
var (
	UpgradeBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	DrainBuckets   = []float64{0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300}
)

// Histogram is a cumulative histogram: Buckets[i] counts observations up
// to the i-th bound, as Prometheus has them.
type Histogram struct {
	Count   uint64    `json:"count"`
	Sum     float64   `json:"sum"`
	Buckets []uint64  `json:"buckets"`
	Bounds  []float64 `json:"bounds"`
}

func (h *Histogram) observe(bounds []float64, v float64) {
	if len(h.Bounds) != len(bounds) {
		*h = Histogram{Bounds: bounds, Buckets: make([]uint64, len(bounds))}
	}
	h.Count++
	h.Sum += v
	for i, b := range bounds {
		if v <= b {
			h.Buckets[i]++
		}
	}
}

func (s *Stats) record(r UpgradeRecord) {
	if s.Upgrades == nil {
		s.Upgrades = map[string]uint64{}
	}
	s.Upgrades[r.Result]++
	if r.Result == "ok" {
		s.UpgradeSeconds.observe(UpgradeBuckets, time.Duration(r.Duration).Seconds())
	}
	s.History = append(s.History, r)
	if len(s.History) > historyLen {
		s.History = append([]UpgradeRecord(nil), s.History[len(s.History)-historyLen:]...)
	}
}

// copy returns a deep copy, safe to hand out.
func (s Stats) copy() Stats {
	c := Stats{MovedConns: s.MovedConns, UpgradeSeconds: s.UpgradeSeconds.copy(), DrainSeconds: s.DrainSeconds.copy(),
		History: append([]UpgradeRecord{}, s.History...), Upgrades: map[string]uint64{}}
	for k, v := range s.Upgrades {
		c.Upgrades[k] = v
	}
	return c
}

func (h Histogram) copy() Histogram {
	h.Buckets = append([]uint64(nil), h.Buckets...)
	h.Bounds = append([]float64(nil), h.Bounds...)
	return h
}
