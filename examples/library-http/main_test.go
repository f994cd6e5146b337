//go:build unix

package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/flipd/flipd/upgrade"
)

const (
	// defaultUpgrades is how many upgrades TestUpgradeUnderLoad makes
	// unless FLIPD_LOAD_UPGRADES says otherwise.
	defaultUpgrades = 20
	// settle keeps the load running a little after the last upgrade, so
	// that the last drains happen under load too.
	settle = 300 * time.Millisecond
)

func TestMain(m *testing.M) {
	// Older generations exit before their children; without a subreaper
	// those would be re-parented to PID 1, which does not reap here.
	if err := becomeSubreaper(); err != nil {
		panic("becoming a child subreaper: " + err.Error())
	}
	os.Exit(m.Run())
}

// TestUpgradeUnderLoad upgrades the example 20 times while clients send
// GETs and POSTs, some over keep-alive connections and some over a new
// connection each, and requires every single request to succeed.
//
// FLIPD_LOAD_UPGRADES sets another number of upgrades: CI's benchmark
// stage runs 200, enough to catch a drop that happens once in 100.
func TestUpgradeUnderLoad(t *testing.T) {
	upgrades := loadUpgrades(t)
	if testing.Short() {
		t.Skipf("builds the example and upgrades it %d times", upgrades)
	}
	exe := buildExample(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	// Kept with -artifacts: the drain's debug log says which generation
	// closed the connection of a failed request (its local port is in
	// the failure).
	logPath := filepath.Join(t.ArtifactDir(), "example.log")
	gens := &generations{t: t, exe: exe, pidFile: filepath.Join(dir, "app.pid"), logPath: logPath}
	t.Cleanup(gens.killAll)
	t.Cleanup(func() {
		if t.Failed() {
			gens.dumpLog()
		}
	})

	gens.start(addr)

	// A few seconds an upgrade at most, however slow the machine.
	loadCtx, stopLoad := context.WithTimeout(context.Background(), time.Minute+time.Duration(upgrades)*3*time.Second)
	defer stopLoad()
	tl := newTally()
	loadDone := runLoad(loadCtx, "http://"+addr+"/", tl)

	start := time.Now()
	hups := 0
	for i := 0; i < upgrades; i++ {
		// Upgrade refuses a new generation while DefaultMaxDraining older
		// ones are alive; wait for one to go, so that most SIGHUPs land.
		gens.waitDraining(upgrade.DefaultMaxDraining-1, 15*time.Second)
		hups += gens.upgrade(30 * time.Second)
	}
	upgradeTime := time.Since(start)
	time.Sleep(settle)
	stopLoad()
	loadDone()

	cur := gens.current()
	gens.waitDraining(0, 15*time.Second)
	gens.requireOnlyInstance(cur)

	t.Logf("%d upgrades in %v with %d SIGHUPs (refused: %v); %s",
		upgrades, upgradeTime.Round(time.Millisecond), hups, gens.refusals(), tl)
	if tl.failures > 0 {
		t.Errorf("%d of %d requests failed: %v", tl.failures, tl.requests, tl.kindsSummary())
	}
	if n := len(tl.gens); n < 2 {
		t.Errorf("requests were served by %d generation(s), want more than one: %v", n, tl.gens)
	}
	if tl.requests == 0 {
		t.Fatal("no request was made")
	}

	gens.stop(cur, 30*time.Second)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the last generation stopped", addr)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dialling %s after stop: %v, want connection refused", addr, err)
	}
}

// loadUpgrades reads FLIPD_LOAD_UPGRADES, the number of upgrades
// TestUpgradeUnderLoad makes.
func loadUpgrades(t *testing.T) int {
	t.Helper()
	v := os.Getenv("FLIPD_LOAD_UPGRADES")
	if v == "" {
		return defaultUpgrades
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 10_000 {
		t.Fatalf("FLIPD_LOAD_UPGRADES=%q: want a number of upgrades from 1 to 10000", v)
	}
	return n
}

// buildExample builds this package's command into a temporary directory.
func buildExample(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not in PATH:", err)
	}
	exe := filepath.Join(t.TempDir(), "library-http")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", exe, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
