package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchSelf builds flipd-bench, whose helpers send the load, or skips.
func benchSelf(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real servers and sends them load")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("builds flipd-bench and needs the go command")
	}
	self := filepath.Join(t.TempDir(), "flipd-bench")
	if out, err := exec.Command("go", "build", "-o", self, "github.com/flipd/flipd/cmd/flipd-bench").CombinedOutput(); err != nil {
		t.Fatalf("building flipd-bench: %v\n%s", err, out)
	}
	return self
}

// runPeer runs 3 upgrades at a low rate against the one peer o names, in
// every default mode, measures its memory with a few idle connections,
// and checks that the report is complete: the peer's version and reload
// in the header, a row per mode with every upgrade done and requests
// answered, and a memory row. Failed requests are reported, not judged:
// they are what the comparison shows.
func runPeer(t *testing.T, o Options, name string) {
	o.Upgrades, o.Rate, o.Conns, o.Interval, o.IdleConns = 3, 200, 8, 300*time.Millisecond, 200
	o.Flipd, o.Nginx, o.Log = "unused", "none", testWriter{t}
	o.Dir = t.TempDir()
	cleanup, err := o.prepare()
	defer cleanup()
	if err != nil {
		t.Fatal(err)
	}
	stopReaper := startReaper()
	defer stopReaper()
	rep := &Report{Upgrades: o.Upgrades, Rate: o.Rate, Conns: o.Conns}
	rep.Peers, rep.Notes = o.preparePeers(nil)
	if rep.Peers[name] == "" {
		t.Skipf("%s is not available: %v", name, rep.Notes)
	}
	var mk func() (server, error)
	makers, names := o.peerServers(func(n string, f func(string) (server, error)) func() (server, error) {
		return func() (server, error) { return f(t.TempDir()) }
	}, nil, nil)
	for i, n := range names {
		if n == name {
			mk = makers[i]
		}
	}
	if mk == nil {
		t.Fatalf("%s was found (%s) but is not among the servers %v", name, rep.Peers[name], names)
	}
	for _, mode := range Modes {
		srv, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		r := o.runOne(srv, mode)
		t.Logf("%s, %s: %s", name, mode, r.line())
		rep.Results = append(rep.Results, r)
		if r.Err != "" || r.Skipped != "" {
			t.Errorf("%s, %s: did not run: %s%s", name, mode, r.Err, r.Skipped)
			continue
		}
		ok, _, _ := upgradeStats(r.Upgrades)
		if ok != o.Upgrades || r.Load.OK == 0 || len(r.Procs) == 0 {
			t.Errorf("%s, %s: %d of %d upgrades done, %d requests answered, %d samples: the report is not complete",
				name, mode, ok, o.Upgrades, r.Load.OK, len(r.Procs))
		}
	}
	srv, err := mk()
	if err != nil {
		t.Fatal(err)
	}
	rep.Memory = append(rep.Memory, o.memoryOf(srv))
	md := rep.Markdown()
	t.Logf("\n%s", md)
	if m := rep.Memory[0]; m.Err != "" || m.Conns != o.IdleConns || m.Idle.GenerationRSS == 0 || m.WithConns.GenerationRSS == 0 {
		t.Errorf("memory of %s: %+v: want both readings with %d connections", name, m, o.IdleConns)
	}
	for _, want := range []string{name + " " + rep.Peers[name] + " (", peerReload[name]} {
		if !strings.Contains(md, want) {
			t.Errorf("the report does not say %q", want)
		}
	}
	for _, mode := range Modes {
		if !strings.Contains(md, "| "+string(mode)+" | "+name+" | ") {
			t.Errorf("the report has no row for %s in %s", name, mode)
		}
	}
	if !strings.Contains(md, "| "+name+" | ") {
		t.Errorf("the memory table has no row for %s", name)
	}
	if exe := leftover(name); exe != "" {
		t.Errorf("a %s process is left running: %s", name, exe)
	}
}

// leftover names a process of comm name still running below this one.
func leftover(name string) string {
	for _, p := range snapshot().below(os.Getpid()) {
		if p.Comm == name && p.State != 'Z' {
			return cmdline(p.Pid)
		}
	}
	return ""
}

// TestHAProxyPeerReportIsComplete runs HAProxy, reloaded by USR2 to its
// master, through 3 reloads in every mode (skipped without haproxy).
func TestHAProxyPeerReportIsComplete(t *testing.T) {
	self := benchSelf(t)
	runPeer(t, Options{Self: []string{self}, Caddy: "none"}, "haproxy")
}

// TestCaddyPeerReportIsComplete runs Caddy, reloaded by POST /load,
// through 3 reloads in every mode (skipped when Caddy cannot be built).
func TestCaddyPeerReportIsComplete(t *testing.T) {
	// Building Caddy takes minutes (7 on two busy cores), too long for
	// the package's test timeout: a binary already in the cache, or a
	// build asked for.
	bin := cachedCaddy()
	if bin == "" && os.Getenv("FLIPD_BENCH_CADDY") != "1" {
		t.Skip("Caddy is not built yet: set FLIPD_BENCH_CADDY=1 to build it from the Go module proxy (minutes), or run flipd-bench once")
	}
	self := benchSelf(t)
	runPeer(t, Options{Self: []string{self}, Caddy: bin, HAProxy: "none"}, "caddy")
}
