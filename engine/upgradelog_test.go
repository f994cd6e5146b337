package engine

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// The upgrader's lines reach the generation's logger once it exists,
// at its level, without a second pid and generation.
func TestUpgraderLogsReachTheGenerationsLogger(t *testing.T) {
	l := newUpgradeLog()
	ulog := l.With("pid", 1, "generation", 7) // as the upgrader does
	ulog.Warn("before the config")
	var out bytes.Buffer
	l.forwardTo(hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Info}).With("generation", 2))
	ulog.Debug("below the level")
	ulog.Warn("executable gone; starting the running binary", "executable", "/x/flipd")
	got := out.String()
	if strings.Contains(got, "before the config") || strings.Contains(got, "below the level") {
		t.Fatalf("lines that should be dropped were logged:\n%s", got)
	}
	if !strings.Contains(got, "executable gone; starting the running binary") || !strings.Contains(got, "executable=/x/flipd") {
		t.Fatalf("the upgrader's warning did not reach the logger:\n%s", got)
	}
	if strings.Contains(got, "generation=7") || strings.Contains(got, "pid=1") {
		t.Fatalf("the upgrader's own pid and generation were repeated:\n%s", got)
	}
}
