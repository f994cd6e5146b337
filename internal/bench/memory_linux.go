package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// measureMemory reads each server's resident memory idle, then with
// o.IdleConns idle keep-alive connections open (from a helper), for flipd
// and the peers (not the naive restart, the same flipd).
func (o *Options) measureMemory(hasTLS bool) []MemoryRow {
	makers, _ := o.servers(hasTLS)
	var rows []MemoryRow
	for _, mk := range makers {
		srv, err := mk()
		if err != nil {
			rows = append(rows, MemoryRow{Server: "?", Err: err.Error()})
			continue
		}
		if strings.Contains(srv.name(), "naive") {
			continue
		}
		o.logf("memory: %s, idle and with %d idle connections", srv.name(), o.IdleConns)
		row := o.memoryOf(srv)
		if row.Err != "" {
			o.logf("  %s", row.Err)
		}
		rows = append(rows, row)
	}
	return rows
}

// memoryOf starts srv, reads its memory idle, opens o.IdleConns
// connections with one POST each, reads it again, and stops it.
func (o *Options) memoryOf(srv server) MemoryRow {
	row := MemoryRow{Server: srv.name()}
	if err := srv.start(); err != nil {
		row.Err = err.Error()
		return row
	}
	defer srv.stop()
	time.Sleep(2 * time.Second) // settled after start
	row.Idle = memorySides(srv)
	conns := o.IdleConns
	if c, ok := srv.(interface{ maxConns() int }); ok && c.maxConns() < conns {
		// HAProxy's maxconn, which the open-file limit bounds: more
		// connections would wait, unanswered, in the accept queue.
		conns = c.maxConns()
	}
	cfg := IdleConfig{URL: srv.url(ModeKeepAlive), Conns: conns, Parallel: 200, Trickle: 1,
		MaxDuration: 5 * time.Minute, Timeout: 10 * time.Second, Bodies: srv.bodies()}
	h, err := startHelper(o.Self, childJob{Idle: &cfg}, os.Stderr)
	if err != nil {
		row.Err = err.Error()
		return row
	}
	defer h.stop(30 * time.Second)
	line, err := h.expect("established ", 5*time.Minute)
	if err != nil {
		row.Err = "idle connections: " + err.Error()
		return row
	}
	row.Conns, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "established ")))
	time.Sleep(time.Second)
	row.WithConns = memorySides(srv)
	h.next()
	var res IdleResult
	if err := h.result(&res, 5*time.Minute); err != nil {
		row.Err = "idle connections: " + err.Error()
	} else if row.Conns < conns {
		row.Err = fmt.Sprintf("%d of %d idle connections established (%s)", row.Conns, conns, failures(res.Established.Failures))
	}
	return row
}

// memorySides sums srv's processes' VmRSS now, as the runs' sampler does.
func memorySides(srv server) MemorySides {
	var m MemorySides
	all := snapshot()
	for _, p := range all.below(os.Getpid()) {
		if p.State == 'Z' {
			continue
		}
		switch srv.role(p, all) {
		case roleSupervisor:
			m.SupervisorRSS += vmRSS(p)
		case roleGeneration, roleWorker:
			m.Processes++
			m.GenerationRSS += vmRSS(p)
		}
	}
	return m
}

// vmRSS is the VmRSS line of /proc/<pid>/status in bytes, or p.RSS (from
// /proc/<pid>/stat, the same counter) if it cannot be read.
func vmRSS(p proc) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid))
	if err != nil {
		return p.RSS
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "1234 kB"
			if len(f) != 2 {
				break
			}
			if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return kb << 10
			}
		}
	}
	return p.RSS
}
