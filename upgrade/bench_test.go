//go:build linux

package upgrade

import (
	"os"
	"path/filepath"
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
	p := startHelper(b, "", "HELPER_ADDRS_FILE="+addrsFile)
	old := p.cmd.Process.Pid
	var ready time.Duration

	b.ResetTimer()
	for gen := 2; gen < b.N+2; gen++ {
		start := time.Now()
		if res := p.upgrade(""); !res.OK {
			b.Fatalf("upgrade to generation %d: %s", gen, res.Error)
		}
		ready += time.Since(start)
		next := p.waitReady(gen)
		waitExited(b, p, old)
		old = next.pid
	}
	b.StopTimer()
	b.ReportMetric(float64(ready.Microseconds())/1000/float64(b.N), "ready-ms/op")
}

// waitExited blocks until pid, the previous generation, has exited. Its
// own parent is gone by then, so it is this (subreaper) process's child.
func waitExited(b *testing.B, p *proc, pid int) {
	if pid == p.cmd.Process.Pid {
		p.cmd.Wait()
		return
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		p.waitExit(pid) // not our child after all: poll
	}
}
