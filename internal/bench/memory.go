package bench

import (
	"fmt"
	"slices"
	"strings"
)

// MemoryRow is one server's resident memory (VmRSS), idle and with many
// idle keep-alive connections open.
type MemoryRow struct {
	Server string `json:"server"`
	Err    string `json:"err,omitempty"`
	// Conns is how many idle connections were established.
	Conns     int         `json:"conns"`
	Idle      MemorySides `json:"idle"`
	WithConns MemorySides `json:"with_conns"`
}

// MemorySides splits a server's memory as the runs' table does: the
// serving generation with its workers (nginx's master and workers,
// HAProxy's worker, Caddy's one process, a flipd generation) and the
// process in front that never serves (flipd's supervisor, HAProxy's
// master), 0 for a server without one.
type MemorySides struct {
	GenerationRSS int64 `json:"generation_rss"`
	SupervisorRSS int64 `json:"supervisor_rss"`
	Processes     int   `json:"processes"`
}

// peersVersions is the header's account of the peers: "; caddy v2.11.9
// (...); haproxy 2.6.12 (...)".
func (rep *Report) peersVersions() string {
	var names []string
	for n := range rep.Peers {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "; %s %s (%s)", n, rep.Peers[n], peerReload[n])
	}
	return b.String()
}

// peerReload says what each peer does on reload, as the report and the
// README tell it.
var peerReload = map[string]string{
	"caddy":   "reloaded by a config change through its admin API, POST /load, applied in-process: new servers on the same listeners, the old ones stopped gracefully; it cannot change its binary this way",
	"haproxy": "master-worker with expose-fd listeners, reloaded by USR2 to the master, which re-executes itself and starts a new worker that takes the listening sockets over; the old worker finishes its connections (hard-stop-after 10s)",
}

// memoryMarkdown is the memory table, if measured.
func (rep *Report) memoryMarkdown(b *strings.Builder) {
	if len(rep.Memory) == 0 {
		return
	}
	conns := 0
	for _, m := range rep.Memory {
		conns = max(conns, m.Conns)
	}
	fmt.Fprintf(b, "\nResident memory (VmRSS from /proc/<pid>/status), idle and with %d idle keep-alive connections open. "+
		"\"Generation\" is the serving generation with its workers (nginx: master and workers; HAProxy: its worker; Caddy: its one process); "+
		"\"supervisor\" the process in front that never serves (flipd's supervisor, HAProxy's master).\n\n", conns)
	b.WriteString("| server | generation, idle | supervisor, idle | generation, with connections | supervisor, with connections | connections | processes |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	opt := func(n int64) string {
		if n == 0 {
			return "–"
		}
		return mb(n)
	}
	for _, m := range rep.Memory {
		if m.Err != "" {
			fmt.Fprintf(b, "| %s | error: %s ||||||\n", m.Server, m.Err)
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %d | %d |\n", m.Server, mb(m.Idle.GenerationRSS), opt(m.Idle.SupervisorRSS),
			mb(m.WithConns.GenerationRSS), opt(m.WithConns.SupervisorRSS), m.Conns, m.Idle.Processes)
	}
}
