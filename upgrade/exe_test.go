//go:build linux

package upgrade

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// go run deletes its temporary binary: a config-only upgrade starts the
// running binary instead, an upgrade that asks for the new binary still
// refuses with the error.
func TestConfigOnlyUpgradeRunsDeletedBinary(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "app")
	copyTestBinary(t, exe)
	p := startHelper(t, exe)
	first := p.info().ExeIno
	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}

	c := p.conn()
	var res helperResult
	c.askJSON("upgrade", &res)
	c.Close()
	if res.OK || res.Reason != string(ReasonStart) || !strings.Contains(res.Error, "no such file") {
		t.Fatalf("new-binary upgrade with the binary deleted: %+v", res)
	}

	c = p.conn()
	c.askJSON("upgrade-config", &res)
	c.Close()
	if !res.OK {
		t.Fatalf("config-only upgrade with the binary deleted: %+v", res)
	}
	p.waitReady(2)
	if info := p.infoFrom(2); info.ExeIno != first {
		t.Fatalf("generation 2 runs inode %d, want the running binary's %d", info.ExeIno, first)
	}
	// And again from generation 2, which was itself started that way.
	c = p.conn()
	c.askJSON("upgrade-config", &res)
	c.Close()
	if !res.OK {
		t.Fatalf("second config-only upgrade: %+v", res)
	}
	p.waitReady(3)
}

// A child that is a wrapper script which does not exec is killed with
// everything it started when the upgrade fails.
func TestFailedWrapperChildIsKilledWithItsDescendants(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	script := filepath.Join(dir, "wrapper")
	os.WriteFile(script, []byte("#!"+sh+"\nsleep 1000 & echo $! >> "+pids+"\n(sleep 1000; true) & echo $! >> "+pids+"\necho $$ >> "+pids+"\nwait\n"), 0o755)
	// Generation 1 is the test binary, started under the script's name:
	// that is the path it upgrades to.
	p := startHelperWith(t, "", func(cmd *exec.Cmd) { cmd.Path = self; cmd.Args[0] = script }, "HELPER_TIMEOUT=2s")
	res := p.upgrade("")
	if res.OK || res.Reason != string(ReasonTimeout) {
		t.Fatalf("upgrade to a wrapper that never answers: %+v", res)
	}
	b, _ := os.ReadFile(pids)
	fields := strings.Fields(string(b))
	if len(fields) != 3 {
		t.Fatalf("wrapper wrote pids %q", b)
	}
	for _, f := range fields {
		pid, _ := strconv.Atoi(f)
		p.pids[pid] = true // killed at cleanup if the test fails
		deadline := time.Now().Add(20 * time.Second)
		for !reapOrGone(pid, nil) {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d of the wrapper's tree still runs after the failed upgrade", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if p.info().Generation != 1 {
		t.Fatal("generation 1 stopped serving")
	}
}
