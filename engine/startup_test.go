package engine

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// A generation started by a reload says on its "serving" line how long
// each step of the reload took, from the request in the old generation
// to its own ready, so that a slow reload shows where its time went.
func TestANewGenerationLogsWhereTheReloadsTimeWent(t *testing.T) {
	parent := newFakeUpgrader(1)
	in := startOn(t, parent, testConfig(t, ""), Options{})
	if _, err := in.Reload([]byte(testConfig(t, "")), ReloadOptions{Source: "api"}); err != nil {
		t.Fatal(err)
	}
	waitDone(t, in)

	child := newFakeUpgrader(2)
	child.payload = parent.lastUpgrade(t).Payload
	var log lockedBuffer
	startOn(t, child, "", Options{LogOutput: &log})
	line := ""
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, "serving:") {
			line = l
		}
	}
	for _, phase := range []string{"validate", "start", "provision", "listen", "ready", "since_request"} {
		m := regexp.MustCompile(`\b` + phase + `=(\S+)`).FindStringSubmatch(line)
		if m == nil {
			t.Errorf("the serving line has no %s: %s", phase, line)
			continue
		}
		// hclog quotes a value that is not plain ASCII ("134µs").
		if d, err := time.ParseDuration(strings.Trim(m[1], `"`)); err != nil || d < 0 {
			t.Errorf("%s=%s is not a duration of the reload: %v", phase, m[1], err)
		}
	}
}

// A first generation has no reload to account for.
func TestAFirstGenerationLogsNoReloadPhases(t *testing.T) {
	var log lockedBuffer
	startOn(t, newFakeUpgrader(1), testConfig(t, ""), Options{LogOutput: &log})
	if s := log.String(); !strings.Contains(s, "serving:") || strings.Contains(s, "since_request=") {
		t.Errorf("want a serving line without reload phases:\n%s", s)
	}
}

// lockedBuffer collects log lines written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
