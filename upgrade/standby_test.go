//go:build linux

package upgrade

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitStandby waits until the serving generation has a warm standby other
// than the process not (0 for any), and returns it.
func (p *proc) waitStandby(not int) StandbyInfo {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := p.conn()
		var sb StandbyInfo
		c.askJSON("standby", &sb)
		c.Close()
		if sb.Pid != 0 {
			p.pids[sb.Pid] = true // killAll kills it too
		}
		if sb.Warm && sb.Pid != not {
			return sb
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no warm standby other than pid %d after 30s (now %+v)", not, sb)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStandbyBecomesTheNextGenerationWithThePayloadAndTheSockets(t *testing.T) {
	p := startHelper(t, "", "HELPER_STANDBY=1")
	sb := p.waitStandby(0)
	if sb.Pid == p.cmd.Process.Pid {
		t.Fatalf("the standby is generation 1 itself")
	}
	if res := p.upgrade("second"); !res.OK {
		t.Fatalf("upgrade: %s", res.Error)
	}
	gen2 := p.waitReady(2)
	if gen2.pid != sb.Pid {
		t.Fatalf("generation 2 is pid %d, want the standby, pid %d", gen2.pid, sb.Pid)
	}
	info := p.infoFrom(2)
	if info.Payload != "second" || !info.HasParent || !slices.Contains(info.Inherited, "tcp:127.0.0.1:0") {
		t.Fatalf("generation 2 got %+v, want the payload and the inherited listener", info)
	}
	if gen2.addr != p.addr {
		t.Fatalf("generation 2 serves %s, want the inherited %s", gen2.addr, p.addr)
	}
	p.waitExit(p.cmd.Process.Pid)

	// Generation 2 keeps a standby of its own, which the next upgrade
	// takes in turn.
	sb2 := p.waitStandby(sb.Pid)
	if res := p.upgrade("third"); !res.OK {
		t.Fatalf("upgrade: %s", res.Error)
	}
	if gen3 := p.waitReady(3); gen3.pid != sb2.Pid {
		t.Fatalf("generation 3 is pid %d, want generation 2's standby, pid %d", gen3.pid, sb2.Pid)
	}
	if info := p.infoFrom(3); info.Payload != "third" {
		t.Fatalf("generation 3 got payload %q", info.Payload)
	}
}

func TestStandbyIsNotTakenOnceTheBinaryChangedOnDisk(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "app")
	copyTestBinary(t, exe)
	p := startHelper(t, exe, "HELPER_STANDBY=1")
	sb := p.waitStandby(0)
	// Replace the binary the way an install does: a new file renamed
	// over the old path.
	replaceBinary(t, exe)
	newIno := inode(t, exe)
	if res := p.upgrade(""); !res.OK {
		t.Fatalf("upgrade: %s", res.Error)
	}
	gen2 := p.waitReady(2)
	if gen2.pid == sb.Pid {
		t.Fatalf("the upgrade took the standby of the old binary (pid %d)", sb.Pid)
	}
	if info := p.infoFrom(2); info.ExeIno != newIno {
		t.Fatalf("generation 2 runs inode %d, want the new binary's %d", info.ExeIno, newIno)
	}
	p.waitExit(sb.Pid) // discarded, not left behind
}

func TestStandbyThatDiedIsNotTakenAndIsReplaced(t *testing.T) {
	p := startHelper(t, "", "HELPER_STANDBY=1")
	sb := p.waitStandby(0)
	if err := syscall.Kill(sb.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.waitExit(sb.Pid)
	// At once: the dead standby must not fail the upgrade.
	if res := p.upgrade("x"); !res.OK {
		t.Fatalf("upgrade after the standby died: %s", res.Error)
	}
	if gen2 := p.waitReady(2); gen2.pid == sb.Pid {
		t.Fatal("generation 2 claims the dead standby's pid")
	}
	if info := p.infoFrom(2); info.Payload != "x" {
		t.Fatalf("generation 2 got payload %q", info.Payload)
	}
}

func TestStandbyThatFailsLeavesTheParentServingAndAnotherStandsBy(t *testing.T) {
	p := startHelper(t, "", "HELPER_STANDBY=1")
	first := p.waitStandby(0)
	// The helper reads its mode before New: the standby there now will
	// refuse, once activated. Replace it with one that does.
	p.setMode("report")
	c := p.conn()
	if got := c.ask("listen 127.0.0.2:0"); strings.Contains(got, "error") {
		t.Fatalf("listen: %s", got)
	}
	c.Close()
	refusing := p.waitStandby(first.Pid)
	p.setMode("")
	res := p.upgrade("")
	if res.OK || res.Reason != string(ReasonReported) || !strings.Contains(res.Message, "refuses to serve") {
		t.Fatalf("upgrade through the refusing standby: %+v", res)
	}
	if info := p.info(); info.Generation != 1 {
		t.Fatalf("generation %d answers after the failed upgrade", info.Generation)
	}
	p.waitExit(refusing.Pid)
	next := p.waitStandby(refusing.Pid)
	if res := p.upgrade("ok"); !res.OK {
		t.Fatalf("upgrade: %s", res.Error)
	}
	if gen2 := p.waitReady(2); gen2.pid != next.Pid {
		t.Fatalf("generation 2 is pid %d, want the new standby %d", gen2.pid, next.Pid)
	}
}

func TestStandbyIsReplacedWhenTheDescriptorsChange(t *testing.T) {
	p := startHelper(t, "", "HELPER_STANDBY=1")
	sb := p.waitStandby(0)
	c := p.conn()
	added := c.ask("listen 127.0.0.3:0")
	c.Close()
	if strings.Contains(added, "error") {
		t.Fatalf("listen: %s", added)
	}
	// The old standby holds a copy of every socket it inherited; it must
	// go, and the next one has the new listener too.
	p.waitExit(sb.Pid)
	sb2 := p.waitStandby(sb.Pid)
	if res := p.upgrade(""); !res.OK {
		t.Fatalf("upgrade: %s", res.Error)
	}
	if gen2 := p.waitReady(2); gen2.pid != sb2.Pid {
		t.Fatalf("generation 2 is pid %d, want the new standby %d", gen2.pid, sb2.Pid)
	}
	// Generation 2 did not claim the added listener, so it closed it:
	// the address refuses now.
	p.waitExit(p.cmd.Process.Pid)
	addr := strings.TrimSpace(added)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts after generation 2 dropped it", addr)
	}
}

func TestStandbyGoesWithAStopAndWithItsParent(t *testing.T) {
	t.Run("stop", func(t *testing.T) {
		p := startHelper(t, "", "HELPER_STANDBY=1")
		sb := p.waitStandby(0)
		c := p.conn()
		c.ask("stop")
		c.Close()
		p.waitExit(p.cmd.Process.Pid)
		p.waitExit(sb.Pid)
	})
	t.Run("parent killed", func(t *testing.T) {
		p := startHelper(t, "", "HELPER_STANDBY=1")
		sb := p.waitStandby(0)
		syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
		p.waitExit(p.cmd.Process.Pid)
		p.waitExit(sb.Pid) // its handshake pipe ended: it gives up
	})
}

func TestStandbyOfABinaryWithoutStandbysRefusesAndUpgradesStillWork(t *testing.T) {
	// A binary that speaks only version 1 (the env value "standby-1"
	// is no version to it) exits at once without serving; the upgrade
	// then starts a new process as before.
	p := startHelper(t, "", "HELPER_STANDBY=1", "HELPER_NO_STANDBY_SUPPORT=1")
	time.Sleep(300 * time.Millisecond)
	if res := p.upgrade("y"); !res.OK {
		t.Fatalf("upgrade: %s", res.Error)
	}
	p.waitReady(2)
	if info := p.infoFrom(2); info.Payload != "y" {
		t.Fatalf("generation 2 got payload %q", info.Payload)
	}
}

func replaceBinary(t *testing.T, exe string) {
	t.Helper()
	tmp := exe + ".new"
	copyFile(t, exe, tmp)
	if err := os.Rename(tmp, exe); err != nil {
		t.Fatal(err)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// upgradeVerify asks for an upgrade with a Verify ("upgrade-verify").
func (p *proc) upgradeVerify(verdict, wait, payload string) helperResult {
	p.t.Helper()
	c := p.conn()
	defer c.Close()
	var res helperResult
	c.askJSON("upgrade-verify "+verdict+" "+wait+" "+payload, &res)
	return res
}

func TestVerifyRunsWhileTheStandbyPreparesWhichServesOnYes(t *testing.T) {
	dir := t.TempDir()
	p := startHelper(t, "", "HELPER_STANDBY=1", "HELPER_PREPARED_DIR="+dir)
	sb := p.waitStandby(0)
	res := p.upgradeVerify("yes", "wait", "second")
	if !res.OK {
		t.Fatalf("upgrade: %s", res.Error)
	}
	if !res.Verified || res.Prepared != sb.Pid {
		t.Fatalf("Verify called %v, saw pid %d prepared; want it called while the standby (pid %d) prepared",
			res.Verified, res.Prepared, sb.Pid)
	}
	if gen2 := p.waitReady(2); gen2.pid != sb.Pid {
		t.Fatalf("generation 2 is pid %d, want the standby, pid %d", gen2.pid, sb.Pid)
	}
	if info := p.infoFrom(2); info.Payload != "second" {
		t.Fatalf("generation 2 got payload %q", info.Payload)
	}
}

func TestVerifySayingNoDiscardsTheStandbyBeforeItServes(t *testing.T) {
	dir := t.TempDir()
	p := startHelper(t, "", "HELPER_STANDBY=1", "HELPER_PREPARED_DIR="+dir)
	sb := p.waitStandby(0)
	res := p.upgradeVerify("no", "wait", "refused")
	if res.OK || res.Error != errVerifyNo.Error() {
		t.Fatalf("upgrade: ok %v, error %q; want Verify's very error, %q", res.OK, res.Error, errVerifyNo)
	}
	if res.Prepared != sb.Pid {
		t.Fatalf("Verify saw pid %d prepared, want the standby, pid %d", res.Prepared, sb.Pid)
	}
	p.waitExit(sb.Pid) // discarded, never ready
	if info := p.info(); info.Generation != 1 {
		t.Fatalf("generation %d answers after the refusal, want 1", info.Generation)
	}
	// Another standby stands by, and the next upgrade takes it.
	sb2 := p.waitStandby(sb.Pid)
	if res := p.upgradeVerify("yes", "nowait", "taken"); !res.OK {
		t.Fatalf("upgrade after the refusal: %s", res.Error)
	}
	if gen2 := p.waitReady(2); gen2.pid != sb2.Pid {
		t.Fatalf("generation 2 is pid %d, want the new standby, pid %d", gen2.pid, sb2.Pid)
	}
	if info := p.infoFrom(2); info.Payload != "taken" {
		t.Fatalf("generation 2 got payload %q, want the verified one", info.Payload)
	}
}

func TestVerifyWithoutAStandbyRunsBeforeAProcessStarts(t *testing.T) {
	dir := t.TempDir()
	p := startHelper(t, "", "HELPER_PREPARED_DIR="+dir)
	res := p.upgradeVerify("no", "nowait", "x")
	if res.OK || res.Error != errVerifyNo.Error() || !res.Verified {
		t.Fatalf("upgrade: ok %v, error %q, verify called %v; want Verify's error", res.OK, res.Error, res.Verified)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "prepared-*")); len(names) != 0 {
		t.Fatalf("a process started for an upgrade Verify refused: %v", names)
	}
	if res := p.upgradeVerify("yes", "nowait", "y"); !res.OK {
		t.Fatalf("upgrade: %s", res.Error)
	}
	p.waitReady(2)
	if info := p.infoFrom(2); info.Payload != "y" {
		t.Fatalf("generation 2 got payload %q", info.Payload)
	}
}
