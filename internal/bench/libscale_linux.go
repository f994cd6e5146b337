package bench

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// libScalingRuns is how many runs of the benchmark the target takes.
const libScalingRuns = 5

// measureLibScaling runs the library benchmark with go test, from the
// module flipd-bench was started in (go run ./cmd/flipd-bench does).
func (o *Options) measureLibScaling(t *Targets) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(gomod)), "go.mod") {
		return fmt.Errorf("the library benchmark needs the flipd module (go env GOMOD: %q, %v)", gomod, err)
	}
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "UpgradeScaling/standby", "-benchtime", "20x",
		"-count", strconv.Itoa(libScalingRuns), "./upgrade/")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd.Stderr = nil // the helpers' own messages
	var out strings.Builder
	cmd.Stdout = &out
	exited, err := startManaged(cmd)
	if err != nil {
		return err
	}
	<-exited
	if !cmd.ProcessState.Success() {
		return fmt.Errorf("go test -bench UpgradeScaling: %s: %s", cmd.ProcessState, out.String())
	}
	l := parseLibScaling(out.String())
	if len(l.ReadyRatio) == 0 {
		return fmt.Errorf("go test -bench UpgradeScaling printed no result: %s", out.String())
	}
	t.LibScaling = l
	return nil
}
