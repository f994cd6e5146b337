package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"
)

// The throughput target's cycles: each measures every server for a
// slice, one after the other (alternate.go).
const (
	throughputCycles = 60
	throughputWarmup = 2
	throughputSlice  = 200 * time.Millisecond
	throughputConns  = 16
)

// The CPU time target's rounds, each pair of servers at once (shared.go).
const (
	sharedRounds = 16
	sharedWarmup = 1
	sharedRound  = 2 * time.Second
)

// throughputSets is how many sets of fresh processes share the cycles
// and rounds, one set after the other, each with its own warmup. One
// pair of processes differs from the next: flipd's generation against
// bare net/http, served at once, read 1.013 to 1.044 over 14 rounds in
// one pair, and 0.990 to 1.032 at the median of its rounds in each of
// nine others (by hand, on this machine), while eight pairs of bare
// net/http twins kept to 0.993 to 1.004. Rounds of one set cannot
// average that out; sets of fresh processes do.
const throughputSets = 4

// measureThroughput compares flipd's static_response with the same
// handler in a bare net/http server, and with flipd's layers added to the
// bare server one at a time, in alternating slices; then their CPU time
// a request, pairs of them served at once. Every server is pinned to CPU
// 0 and the closed-loop client to CPU 1, so that a slice measures what
// one core of server does, not how two processes share two cores. Each
// process's Go runtime is sized to the one core it gets (GOMAXPROCS=1,
// what Go picks for itself in a process started on one core): pinned
// after it started with two, a runtime hands its goroutines from thread
// to thread on the one core, which measures the scheduler's guesses more
// than the server. Each slice also measures the server's CPU time (from
// /proc, every thread's time on a CPU, in nanoseconds) and its heap
// allocations (the Go runtime's count, read before and after). Each of
// throughputSets sets of fresh processes measures its share of the
// cycles and rounds.
func (o *Options) measureThroughput(t *Targets) error {
	pinned := runtime.NumCPU() >= 2
	var env []string
	if pinned {
		env = []string{"GOMAXPROCS=1"}
	}
	var m setResults
	for set := range throughputSets {
		if err := o.measureThroughputSet(&m, set, env, pinned); err != nil {
			return err
		}
	}
	t.Throughput = make([]ThroughputSide, len(m.servers))
	for i, name := range m.servers {
		t.Throughput[i] = sideOf(name, m.alt[i])
	}
	t.ThroughputConns, t.ThroughputPinned, t.ThroughputSlice = throughputConns, pinned, throughputSlice
	t.ThroughputSets = throughputSets
	for i, pair := range m.pairs {
		t.Shared = append(t.Shared, sharedSides(pair, m.shared[i]))
	}
	t.SharedRound = sharedRound
	return nil
}

// setResults holds the sets' slices and rounds, each set's appended
// to the last's: the servers' and pairs' names are the same in each.
type setResults struct {
	servers []string
	alt     [][]SliceResult // each server's slices
	pairs   [][2]AlternateServer
	shared  [][2][]SliceResult // each pair's rounds
}

// measureThroughputSet starts a set of fresh processes, measures its
// share of the cycles and rounds, adds them to m and stops the set.
func (o *Options) measureThroughputSet(m *setResults, set int, env []string, pinned bool) error {
	body := "hello"
	f, err := o.newFlipd("throughput")
	if err != nil {
		return err
	}
	f.env = env
	ls, err := listeners(1)
	if err != nil {
		return err
	}
	if err := f.start(flipdConfig(f.admin, filepath.Join(f.dir, "storage"), body, ls)); err != nil {
		return err
	}
	defer f.stop(35 * time.Second)
	servers := []AlternateServer{{"flipd", ls[0].Addr, f.pid(), "http://" + f.admin + "/metrics"}}
	for _, v := range []struct{ variant, name string }{
		{"", "bare net/http"}, {"timeouts", "bare + the module's timeouts"}, {"drain", "bare + timeouts + drain"},
	} {
		h, s, err := o.startBare(body, v.variant, v.name, env)
		if err != nil {
			return err
		}
		defer h.stop(10 * time.Second)
		servers = append(servers, s)
	}
	// The CPU time a request: flipd and bare net/http at once, then two
	// twins of bare net/http, which shows what the method can tell, then
	// the drain alone (bare + timeouts + drain) and a third twin, which
	// shows how much of flipd's cost is the drain's. Each server is in
	// one pair: each holds the same connections and works in one round
	// of three, as the servers it is compared with do.
	var twins []AlternateServer
	for i := range 3 {
		th, twin, err := o.startBare(body, "", fmt.Sprintf("bare net/http (twin %d)", i+1), env)
		if err != nil {
			return err
		}
		defer th.stop(10 * time.Second)
		twins = append(twins, twin)
	}
	if pinned {
		for _, s := range append(slices.Clip(servers), twins...) {
			if err := pin(s.Pid, 0); err != nil {
				return err
			}
		}
	}

	cfg := throughputSetConfig(servers, set)
	var res AlternateResult
	budget := time.Duration(cfg.Warmup+cfg.Cycles) * time.Duration(len(servers)) * (cfg.Slice + time.Second)
	if err := o.runClient(childJob{Alternate: &cfg}, env, pinned, budget, &res); err != nil {
		return err
	}
	if res.Errors > 0 {
		return fmt.Errorf("%d failed requests: %v", res.Errors, res.Examples)
	}

	scfg := SharedConfig{Pairs: [][2]AlternateServer{{servers[0], servers[1]}, {twins[0], twins[1]}, {servers[3], twins[2]}},
		Conns: throughputConns, Round: sharedRound, Rounds: sharedRounds / throughputSets, Warmup: sharedWarmup}
	var sres SharedResult
	budget = time.Duration(len(scfg.Pairs)*(scfg.Warmup+scfg.Rounds)) * (scfg.Round + time.Second)
	if err := o.runClient(childJob{Shared: &scfg}, env, pinned, budget, &sres); err != nil {
		return err
	}
	if sres.Errors > 0 {
		return fmt.Errorf("%d failed requests: %v", sres.Errors, sres.Examples)
	}

	if m.servers == nil {
		for _, s := range servers {
			m.servers = append(m.servers, s.Name)
		}
		m.alt = make([][]SliceResult, len(servers))
		m.pairs = scfg.Pairs
		m.shared = make([][2][]SliceResult, len(scfg.Pairs))
	}
	for i := range servers {
		m.alt[i] = append(m.alt[i], res.Slices[i]...)
	}
	for p := range scfg.Pairs {
		for i := range 2 {
			m.shared[p][i] = append(m.shared[p][i], sres.Pairs[p][i]...)
		}
	}
	return nil
}

// throughputSetConfig is the alternating cycles of set (from 0): its
// share of throughputCycles, numbered from the set's own number, so that
// the order of the cycles flips from one set to the next and flipd and
// bare net/http are each first in half of all the counted cycles, though
// a set counts an odd number.
func throughputSetConfig(servers []AlternateServer, set int) AlternateConfig {
	return AlternateConfig{Servers: servers, Conns: throughputConns, Slice: throughputSlice,
		Cycles: throughputCycles / throughputSets, Warmup: throughputWarmup, FirstCycle: set}
}

// runClient runs job in a helper, pinned to CPU 1 if pinned, and decodes
// its result into res, which it must give within budget.
func (o *Options) runClient(job childJob, env []string, pinned bool, budget time.Duration, res any) error {
	h, err := startHelper(o.Self, job, os.Stderr, env...)
	if err != nil {
		return err
	}
	defer h.stop(10 * time.Second)
	if pinned {
		if err := pin(h.cmd.Process.Pid, 1); err != nil {
			return err
		}
	}
	return h.result(res, budget)
}

// startBare starts a helper serving body as the bare net/http server,
// with flipd's layers that variant names, and env added to its
// environment.
func (o *Options) startBare(body, variant, name string, env []string) (*helper, AlternateServer, error) {
	addr, err := freeAddr("")
	if err != nil {
		return nil, AlternateServer{}, err
	}
	stats, err := freeAddr("")
	if err != nil {
		return nil, AlternateServer{}, err
	}
	h, err := startHelper(o.Self, childJob{Serve: &ServeConfig{Addr: addr, Body: body, Variant: variant, StatsAddr: stats}}, os.Stderr, env...)
	if err != nil {
		return nil, AlternateServer{}, err
	}
	if _, err := h.expect("ready", 30*time.Second); err != nil {
		h.stop(10 * time.Second)
		return nil, AlternateServer{}, err
	}
	return h, AlternateServer{name, addr, h.cmd.Process.Pid, "http://" + stats + "/"}, nil
}
