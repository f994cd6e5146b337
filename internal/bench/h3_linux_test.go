package bench

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTheH3ModeRunsEndToEndAndFlipdFailsNoRequest runs the h3 mode
// briefly against real flipd processes, from a real load generator with
// quic-go's client: the report must be complete for both servers (every
// upgrade done, every request and QUIC connection counted), and flipd
// with QUIC forwarding, the product's promise, must fail no request and
// lose no connection.
func TestTheH3ModeRunsEndToEndAndFlipdFailsNoRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts flipd twice for half a minute")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("builds flipd and needs the go command")
	}
	self := filepath.Join(t.TempDir(), "flipd-bench")
	if out, err := exec.Command("go", "build", "-o", self, "github.com/flipd/flipd/cmd/flipd-bench").CombinedOutput(); err != nil {
		t.Fatalf("building flipd-bench: %v\n%s", err, out)
	}
	o := Options{Self: []string{self}, Nginx: "none", Modes: []Mode{ModeH3}, Upgrades: 3, Rate: 100, H3Conns: 4,
		Interval: 300 * time.Millisecond, Log: testWriter{t}}
	rep, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	md := rep.Markdown()
	t.Logf("\n%s", md)
	if len(rep.H3) != 2 || rep.H3[0].Server != "flipd" || rep.H3[1].Server != h3NoForward {
		t.Fatalf("h3 results %v, want flipd and %q", servers(rep.H3), h3NoForward)
	}
	for _, r := range rep.H3 {
		if r.Skipped != "" || r.Err != "" {
			t.Errorf("%s did not run: %s", r.Server, r.line())
			continue
		}
		if ok, _, _ := upgradeStats(r.Upgrades); ok != o.Upgrades {
			t.Errorf("%s: %d of %d upgrades done: %+v", r.Server, ok, o.Upgrades, r.Upgrades)
		}
		c := r.Load.Conns
		switch {
		case r.Load.Requests < 100 || r.Load.OK+r.Load.Failed() != r.Load.Requests:
			t.Errorf("%s: requests not all counted: %+v", r.Server, r.Load)
		case c == nil:
			t.Errorf("%s: the QUIC connections were not counted", r.Server)
		case c.Opened < o.H3Conns || c.Closed+c.Lost+c.Open != c.Opened:
			t.Errorf("%s: connections not all counted: %+v", r.Server, *c)
		case !strings.Contains(md, "| "+r.Server+" | "):
			t.Errorf("the table has no row for %s", r.Server)
		}
	}
	flipd := &rep.H3[0]
	if n, c := flipd.Load.Failed(), flipd.Load.Conns; n > 0 || (c != nil && c.Lost > 0) {
		t.Errorf("flipd with QUIC forwarding failed %d of %d requests (%s) %v; connections: %s",
			n, flipd.Load.Requests, failures(flipd.Load.Failures), flipd.Load.Examples, h3ConnsLine(c))
	}
	for _, goal := range []string{"h3: 0 failed requests, 0 QUIC connections lost", "h3 with QUIC forwarding off shows failures"} {
		if !strings.Contains(md, goal) {
			t.Errorf("the report does not judge the goal %q", goal)
		}
	}
}

func servers(rs []Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Server)
	}
	return out
}
