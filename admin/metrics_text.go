package admin

import (
	"bytes"
	"math"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/flipd/flipd/engine"
)

// exposition writes metrics in the Prometheus text format, version 0.0.4.
type exposition struct{ buf *bytes.Buffer }

var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
var labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

// family writes the HELP and TYPE lines of a metric.
func (e *exposition) family(name, help, typ string) {
	e.buf.WriteString("# HELP " + name + " " + helpEscaper.Replace(help) + "\n")
	e.buf.WriteString("# TYPE " + name + " " + typ + "\n")
}

// sample writes one line: name, labels given as name, value pairs, value.
func (e *exposition) sample(name string, v float64, labels ...string) {
	e.buf.WriteString(name)
	if len(labels) > 0 {
		e.buf.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				e.buf.WriteByte(',')
			}
			e.buf.WriteString(labels[i] + `="` + labelEscaper.Replace(labels[i+1]) + `"`)
		}
		e.buf.WriteByte('}')
	}
	e.buf.WriteByte(' ')
	e.buf.WriteString(formatFloat(v))
	e.buf.WriteByte('\n')
}

// single writes a metric of one sample without labels.
func (e *exposition) single(name, help, typ string, v float64) {
	e.family(name, help, typ)
	e.sample(name, v)
}

// histogram writes h with cumulative buckets; a histogram with no
// observation yet has the default bounds, all at zero.
func (e *exposition) histogram(name, help string, h engine.Histogram, bounds []float64) {
	e.family(name, help, "histogram")
	counts := make([]uint64, len(bounds))
	if len(h.Bounds) > 0 && len(h.Bounds) == len(h.Buckets) {
		bounds, counts = h.Bounds, h.Buckets
	}
	for i, b := range bounds {
		e.sample(name+"_bucket", float64(counts[i]), "le", formatFloat(b))
	}
	e.sample(name+"_bucket", float64(h.Count), "le", "+Inf")
	e.sample(name+"_sum", h.Sum)
	e.sample(name+"_count", float64(h.Count))
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// writeGoMetrics writes the Go runtime's metrics under the names of
// client_golang's Go collector.
func writeGoMetrics(e *exposition) {
	var gc debug.GCStats
	gc.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&gc)
	e.family("go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", "summary")
	for i, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		e.sample("go_gc_duration_seconds", gc.PauseQuantiles[i].Seconds(), "quantile", q)
	}
	e.sample("go_gc_duration_seconds_sum", gc.PauseTotal.Seconds())
	e.sample("go_gc_duration_seconds_count", float64(gc.NumGC))

	e.single("go_goroutines", "Number of goroutines that currently exist.", "gauge", float64(runtime.NumGoroutine()))
	e.family("go_info", "Information about the Go environment.", "gauge")
	e.sample("go_info", 1, "version", runtime.Version())
	threads, _ := runtime.ThreadCreateProfile(nil)
	e.single("go_threads", "Number of OS threads created.", "gauge", float64(threads))
	e.single("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting.", "gauge", float64(runtime.GOMAXPROCS(0)))

	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	for _, s := range []struct {
		name, help, typ string
		v               uint64
	}{
		{"go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use.", "gauge", m.Alloc},
		{"go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already.", "counter", m.TotalAlloc},
		{"go_memstats_sys_bytes", "Number of bytes obtained from system.", "gauge", m.Sys},
		{"go_memstats_mallocs_total", "Total number of heap objects allocated.", "counter", m.Mallocs},
		{"go_memstats_frees_total", "Total number of heap objects frees.", "counter", m.Frees},
		{"go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use.", "gauge", m.HeapAlloc},
		{"go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system.", "gauge", m.HeapSys},
		{"go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used.", "gauge", m.HeapIdle},
		{"go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", "gauge", m.HeapInuse},
		{"go_memstats_heap_released_bytes", "Number of heap bytes released to OS.", "gauge", m.HeapReleased},
		{"go_memstats_heap_objects", "Number of currently allocated objects.", "gauge", m.HeapObjects},
		{"go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments.", "gauge", m.StackInuse},
		{"go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", "gauge", m.NextGC},
	} {
		e.single(s.name, s.help, s.typ, float64(s.v))
	}
	e.single("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", "gauge", float64(m.LastGC)/1e9)
}
