package bench

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// Run runs the whole benchmark: every mode against flipd, nginx (if
// installed) and flipd restarted naively (ModeWS against its own servers:
// flipd with and without handover, nginx), then, if o.Targets, the other
// measurements.
func Run(o Options) (*Report, error) {
	cleanup, err := o.prepare()
	defer cleanup()
	if err != nil {
		return nil, err
	}
	stopReaper := startReaper()
	defer stopReaper()

	rep := &Report{Started: time.Now(), Upgrades: o.Upgrades, Rate: o.Rate, Conns: o.Conns, Interval: o.Interval,
		Machine: machine(), Load: [2]string{loadAverage()}, FlipdCommand: supervisedCommand}
	hasTLS := flipdHasTLS(o.Flipd)
	if o.Nginx != "" {
		rep.Nginx = nginxVersion(o.Nginx)
	} else {
		rep.Notes = append(rep.Notes, "nginx is not installed: its runs are left out (apt-get install nginx)")
	}
	if !hasTLS {
		rep.Notes = append(rep.Notes, "flipd has no listener_wrappers.tls module: flipd's TLS mode is skipped")
	}
	rep.Peers, rep.Notes = o.preparePeers(rep.Notes)
	makers, _ := o.servers(hasTLS)
	for _, mode := range o.Modes {
		if o.SkipRuns {
			break
		}
		if mode == ModeH3 {
			results, notes := o.runH3(hasTLS)
			rep.H3, rep.H3Conns = append(rep.H3, results...), o.H3Conns
			rep.Notes = append(rep.Notes, notes...)
			continue
		}
		if mode == ModeWS {
			results, notes := o.runWS()
			rep.WS = append(rep.WS, results...)
			rep.Notes = append(rep.Notes, notes...)
			continue
		}
		for _, mk := range makers {
			srv, err := mk()
			if err != nil {
				return rep, err
			}
			o.logf("%s, %s: %d upgrades at %d requests/s", srv.name(), mode, o.Upgrades, o.Rate)
			r := o.runOne(srv, mode)
			o.logf("  %s", r.line())
			rep.Results = append(rep.Results, r)
		}
	}
	if o.Memory {
		rep.Memory = o.measureMemory(hasTLS)
	}
	if o.Targets {
		t, err := o.measureTargets()
		rep.Targets = t
		if err != nil {
			return rep, err
		}
	}
	rep.Took = time.Since(rep.Started)
	rep.Load[1] = loadAverage()
	return rep, nil
}

// machine describes where the benchmark ran.
func machine() string {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("Linux %s, %d CPUs (%s), %s", strings.TrimSpace(string(kernel)), runtime.NumCPU(), model, runtime.Version())
}

// loadAverage is /proc/loadavg's first three figures.
func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
