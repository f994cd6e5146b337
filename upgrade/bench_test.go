//go:build linux

package upgrade

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkUpgrade measures one whole handover, from the request to
// upgrade until the old generation has exited, with a child that only
// takes its sockets and says it is ready (what tableflip's figure of about
// 5 ms on this kind of machine measures). ready-ms is the part until the
// new generation is ready.
func BenchmarkUpgrade(b *testing.B) {
	for _, n := range []int{4, 1000} {
		b.Run("listeners="+strconv.Itoa(n), func(b *testing.B) { benchmarkUpgrade(b, n) })
	}
}

func benchmarkUpgrade(b *testing.B, listeners int) {
	r := newHandoverRig(b, listeners)
	var ready time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, _ := r.handover()
		ready += d
	}
	b.StopTimer()
	b.ReportMetric(float64(ready.Microseconds())/1000/float64(b.N), "ready-ms/op")
	b.ReportMetric(r.cpuMs(), "gen-cpu-ms/op")
}

// BenchmarkUpgradeScaling hands over 4 and 1,000 listeners in turn, one
// of each per iteration, so that both see the same machine, and reports
// what 1,000 cost against 4 (the goal is a ratio under 2): with a new
// process per upgrade, and with a standby (Options.Standby), which has
// made its listeners before the upgrade; each upgrade then waits until
// the standby stands by, untimed, as one does when upgrades are more than
// a few tens of milliseconds apart.
func BenchmarkUpgradeScaling(b *testing.B) {
	b.Run("exec", func(b *testing.B) { benchmarkScaling(b) })
	b.Run("standby", func(b *testing.B) { benchmarkScaling(b, "HELPER_STANDBY=1") })
}

func benchmarkScaling(b *testing.B, env ...string) {
	small, large := newHandoverRig(b, 4, env...), newHandoverRig(b, 1000, env...)
	// Two figures each, medians (a busy machine's outliers swamp a mean):
	// how long the Upgrade call took in the old generation (until the
	// new one serves every listener), and the wall time until the old
	// generation had exited too (it closes its copies of the
	// descriptors, then exits).
	var rSmall, rLarge, xSmall, xLarge []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ready, exited := small.handover()
		rSmall, xSmall = append(rSmall, ready), append(xSmall, exited)
		ready, exited = large.handover()
		rLarge, xLarge = append(rLarge, ready), append(xLarge, exited)
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(median(rSmall)), "ready-ms-4/op")
	b.ReportMetric(ms(median(rLarge)), "ready-ms-1000/op")
	b.ReportMetric(float64(median(rLarge))/float64(median(rSmall)), "ready-ratio-1000/4")
	b.ReportMetric(float64(median(xLarge))/float64(median(xSmall)), "exited-ratio-1000/4")
	// The CPU time a generation used, from its start as the new one to
	// its exit as the old one: steadier than wall time on a busy machine.
	b.ReportMetric(large.cpuMs()/small.cpuMs(), "cpu-ratio-1000/4")
}

// median is the middle of ds (the upper one of two).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// handoverRig is a helper holding a number of listeners, upgraded again
// and again.
type handoverRig struct {
	b   *testing.B
	p   *proc
	gen int // the generation serving now
	old int // its pid
	// cpu is the CPU time (user and system) of the generations that
	// exited, counted in exited; generation 1 is left out.
	cpu    time.Duration
	exited int
	// standby: each handover first waits, untimed, for a warm standby.
	standby bool
}

// cpuMs is the mean CPU time of a generation, in milliseconds.
func (r *handoverRig) cpuMs() float64 {
	if r.exited == 0 {
		return 0
	}
	return float64(r.cpu.Microseconds()) / 1000 / float64(r.exited)
}

func newHandoverRig(b *testing.B, listeners int, env ...string) *handoverRig {
	addrsFile := filepath.Join(b.TempDir(), "addrs")
	// One listener is the helper's own. The others listen on port 0 of
	// distinct loopback addresses, so that their keys differ and no port
	// has to be reserved.
	var addrs []string
	for i := 1; i < listeners; i++ {
		addrs = append(addrs, "127.0."+strconv.Itoa(1+i/250)+"."+strconv.Itoa(1+i%250)+":0")
	}
	if err := os.WriteFile(addrsFile, []byte(strings.Join(addrs, "\n")), 0o644); err != nil {
		b.Fatal(err)
	}
	p := startHelper(b, "", append(env, "HELPER_ADDRS_FILE="+addrsFile)...)
	return &handoverRig{b: b, p: p, gen: 1, old: p.cmd.Process.Pid, standby: slices.Contains(env, "HELPER_STANDBY=1")}
}

// handover upgrades to the next generation and waits until the old one
// has exited. It returns how long the Upgrade call took in the old
// generation (until the new one was ready), and the wall time until the
// old one had exited.
func (r *handoverRig) handover() (ready, exited time.Duration) {
	r.b.StopTimer()
	if r.standby {
		r.p.waitStandby(0)
	}
	r.b.StartTimer()
	r.gen++
	start := time.Now()
	res := r.p.upgrade("")
	if !res.OK {
		r.b.Fatalf("upgrade to generation %d: %s", r.gen, res.Error)
	}
	ready = res.Took
	next := r.p.waitReady(r.gen)
	cpu, ok := waitExited(r.b, r.p, r.old)
	exited = time.Since(start)
	if ok && r.gen > 2 {
		r.cpu += cpu
		r.exited++
	}
	r.old = next.pid
	return ready, exited
}

// waitExited blocks until pid, the previous generation, has exited. Its
// own parent is gone by then, so it is this (subreaper) process's child.
// It returns the CPU time the generation used, if it reaped it.
func waitExited(b *testing.B, p *proc, pid int) (time.Duration, bool) {
	if pid == p.cmd.Process.Pid {
		p.cmd.Wait()
		return 0, false
	}
	var ws syscall.WaitStatus
	var ru syscall.Rusage
	if _, err := syscall.Wait4(pid, &ws, 0, &ru); err != nil {
		p.waitExit(pid) // not our child after all: poll
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
