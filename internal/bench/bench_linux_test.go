package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the benchmark's helpers.
func TestMain(m *testing.M) {
	ChildMain()
	os.Exit(m.Run())
}

// TestSelf runs the real benchmark briefly: flipd must not fail a
// request in any mode, and the naive restart must fail some, or the
// benchmark could not tell a broken upgrade from a good one.
func TestSelf(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers for a minute")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("builds flipd and needs the go command")
	}
	// The helpers, load generators among them, are flipd-bench built
	// without the race detector, which would make them the bottleneck.
	self := filepath.Join(t.TempDir(), "flipd-bench")
	if out, err := exec.Command("go", "build", "-o", self, "github.com/flipd/flipd/cmd/flipd-bench").CombinedOutput(); err != nil {
		t.Fatalf("building flipd-bench: %v\n%s", err, out)
	}
	// The peers have tests of their own (peers_linux_test.go); Caddy
	// would be built here, for minutes.
	o := Options{Self: []string{self}, Upgrades: 3, Rate: 300, Conns: 16, Interval: 200 * time.Millisecond,
		Log: testWriter{t}, Caddy: "none", HAProxy: "none"}
	if _, err := exec.LookPath("nginx"); err != nil {
		if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
			t.Log("nginx is not installed: its runs are left out (apt-get install nginx)")
			o.Nginx = "none"
		}
	}
	rep, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep.Markdown())
	if bad := rep.FlipdFailures(); len(bad) > 0 {
		t.Fatalf("flipd failed:\n%s", strings.Join(bad, "\n"))
	}
	naive, flipdRuns := 0, 0
	for _, r := range rep.Results {
		switch {
		case r.Server == "flipd" && r.Skipped == "":
			flipdRuns++
			if r.Load.OK == 0 || len(r.Upgrades) != o.Upgrades {
				t.Errorf("flipd %s: %d requests answered, %d upgrades: the run did not happen", r.Mode, r.Load.OK, len(r.Upgrades))
			}
		case strings.Contains(r.Server, "naive"):
			naive += r.Load.Failed()
		case r.Server == "nginx" && r.Err != "":
			t.Logf("nginx %s did not run (reported, not judged): %s", r.Mode, r.Err)
		}
	}
	if flipdRuns < 3 {
		t.Errorf("only %d of flipd's modes ran", flipdRuns)
	}
	if naive == 0 {
		t.Error("the naive restart failed no request: the benchmark cannot tell a broken upgrade from a good one")
	}
	if len(rep.SVG()) < 1000 {
		t.Error("the plot is empty")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
