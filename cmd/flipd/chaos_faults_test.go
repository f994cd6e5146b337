//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestChaosParentKilledMidHandshakeChildServesAloneAndReloads kills the
// serving generation with SIGKILL while its child provisions (started,
// not ready). The child keeps the inherited sockets, so connections wait
// in the accept queue until it serves; it must then serve alone, be named
// by the pid file, and reload again. A SIGKILLed process loses the
// requests it holds, so the load pauses over the kill itself.
func TestChaosParentKilledMidHandshakeChildServesAloneAndReloads(t *testing.T) {
	g, up, admin, web := newGate(t), startHeldUpstream(t), freeAddr(t), freeAddr(t)
	config := func(body string) string { return chaosConfig(admin, web, up.addr, g.wrapper, body) }
	d := startFlipd(t, config("one"))
	load := startLoad("http://"+web+"/", 4)
	time.Sleep(200 * time.Millisecond)

	g.holdAfter(1) // the reload's validation passes; the child's provisioning waits
	old := d.pid()
	d.writeConfig(config("two"))
	signalPid(t, old, syscall.SIGHUP)
	g.waitHeld(d)
	d.waitFor("the new generation's process", func() bool { return len(d.alive()) == 2 })
	load.finish(t, d)

	signalPid(t, old, syscall.SIGKILL)
	d.waitFor("the killed generation to be gone", func() bool { return !contains(d.alive(), old) })
	load = startLoad("http://"+web+"/", 4) // waits in the accept queue
	time.Sleep(200 * time.Millisecond)
	g.release()
	d.waitFor("the orphaned child to write the pid file", func() bool { p := d.pid(); return p != 0 && p != old })
	child := d.oneGenerationServes(admin, web, "two")

	d.writeConfig(config("three"))
	signalPid(t, child, syscall.SIGHUP)
	d.waitFor("a reload by the orphaned child", func() bool { p := d.pid(); return p != child && p != 0 })
	d.oneGenerationServes(admin, web, "three")
	load.finish(t, d)
}

func contains(pids []int, pid int) bool {
	for _, p := range pids {
		if p == pid {
			return true
		}
	}
	return false
}

// TestChaosChildReadyThenExit replaces the binary with a script that says
// "ready" on the status pipe and exits, then asks for POST /upgrade.
// upgrade documents that the status line decides: the upgrade
// succeeds and the old generation drains away. Then nothing serves, and
// flipd must say so clearly (a warning or error naming the pid that
// exited), rather than an operator finding out from refused connections.
func TestChaosChildReadyThenExit(t *testing.T) {
	up, admin, web := startHeldUpstream(t), freeAddr(t), freeAddr(t)
	bin := copyBinary(t)
	d := launch(t, chaosConfig(admin, web, up.addr, "", "one"), launchOptions{bin: bin})
	load := startLoad("http://"+web+"/", 4)
	time.Sleep(200 * time.Millisecond)
	old := d.pid()

	script := "#!/bin/sh\necho '{\"status\": \"ready\", \"pid\": '$$'}' >&4\nexit 0\n"
	replaceFile(t, bin, script)
	if n := load.failures(); n > 0 {
		t.Fatalf("%d requests failed before the upgrade; log:\n%s", n, d.log())
	}
	a := api(t, "POST", "http://"+admin+"/upgrade", "")
	pid, _ := a.body["pid"].(float64)
	if a.status != 200 || pid == 0 {
		t.Fatalf("POST /upgrade to a child that says ready and exits: %d %s, want 200 naming its pid (the status line decides)", a.status, a.raw)
	}
	d.waitFor("the old generation to drain and exit", func() bool { return !contains(d.alive(), old) })
	if len(d.alive()) > 0 { // a fix that keeps the service up
		d.oneGenerationServes(admin, web, "one")
		load.finish(t, d)
		return
	}
	ok, failed := load.end()
	t.Logf("nothing serves: %d requests answered, %d refused or cut since", ok, failed)
	reported := regexp.MustCompile(fmt.Sprintf(`(?im)^.*\[(WARN|ERROR)\].*\b%d\b.*exit.*$`, int(pid)))
	if !reported.MatchString(d.log()) {
		t.Errorf("nothing serves after the new generation (pid %d) exited, and no warning or error says so; log:\n%s", int(pid), d.log())
	}
}

// TestChaosFullStorageKeepsServingAndSaysSo loads a config while the
// storage directory cannot take the autosave (a full 64 KiB tmpfs as
// root, a directory without write permission otherwise): flipd serves
// the new config, says in its log and in the POST /load answer that the
// config was not saved, and the last saved config is intact.
func TestChaosFullStorageKeepsServingAndSaysSo(t *testing.T) {
	up, admin, web := startHeldUpstream(t), freeAddr(t), freeAddr(t)
	storage := filepath.Join(t.TempDir(), "storage")
	if err := os.Mkdir(storage, 0o700); err != nil {
		t.Fatal(err)
	}
	fill := makeStorageFull(t, storage)
	config := func(body string) string {
		return strings.Replace(chaosConfig(admin, web, up.addr, "", body), `{"admin":`,
			fmt.Sprintf(`{"storage": {"dir": %q}, "admin":`, storage), 1)
	}
	d := startFlipd(t, config("one"))
	saved := filepath.Join(storage, "last-config.json")
	// A generation saves its config just after it writes its pid file
	// (engine.Instance.start), so the save may still be under way.
	d.waitFor("generation 1 to save its config", func() bool {
		b, err := os.ReadFile(saved)
		return err == nil && string(b) == config("one")
	})
	load := startLoad("http://"+web+"/", 4)
	undo := fill()

	before := len(d.log())
	a := api(t, "POST", "http://"+admin+"/load", config("two"))
	if a.status != 200 {
		t.Fatalf("POST /load with full storage: %d %s", a.status, a.raw)
	}
	waitAnswer(t, "http://"+web+"/", "two")
	d.waitFor("the new generation to log the failed save", func() bool {
		return strings.Contains(d.log()[before:], "could not save the config")
	})
	if !strings.Contains(a.raw, "saving config") {
		t.Errorf("the POST /load answer does not say the config was not saved: %s", a.raw)
	}
	if b, err := os.ReadFile(saved); err != nil || string(b) != config("one") {
		t.Errorf("the last saved config was damaged by the failed save: %v\n%s", err, b)
	}
	if left, _ := filepath.Glob(filepath.Join(storage, ".last-config.json.*")); len(left) > 0 {
		t.Errorf("the failed save left %v", left)
	}

	undo()
	if a := api(t, "POST", "http://"+admin+"/load", config("three")); a.status != 200 {
		t.Fatalf("POST /load once storage has room: %d %s", a.status, a.raw)
	}
	d.waitFor("the config to be saved once storage has room", func() bool {
		b, _ := os.ReadFile(saved)
		return string(b) == config("three")
	})
	d.oneGenerationServes(admin, web, "three")
	load.finish(t, d)
}

// makeStorageFull prepares dir to become unwritable and returns fill,
// which makes it so and returns how to undo it. As root (who ignores
// permissions) dir becomes a 64 KiB tmpfs that fill fills up.
func makeStorageFull(t *testing.T, dir string) (fill func() (undo func())) {
	t.Helper()
	if os.Geteuid() != 0 {
		return func() func() {
			os.Chmod(dir, 0o500)
			return func() { os.Chmod(dir, 0o700) }
		}
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Skipf("a full storage directory needs a tmpfs mount as root: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return func() func() {
		filler := filepath.Join(dir, "filler")
		f, err := os.Create(filler)
		if err != nil {
			t.Fatal(err)
		}
		block := make([]byte, 1024)
		for i := 0; i < 1024; i++ {
			if _, err := f.Write(block); err != nil {
				break // ENOSPC: full
			}
		}
		f.Close()
		return func() { os.Remove(filler) }
	}
}

// TestChaosDeletedBinaryConfigReloadStillWorks deletes the binary flipd
// runs from, as go run does when its first process exits. A reload that
// only changes the config (SIGHUP, POST /load) must still work, from the
// running binary; POST /upgrade, which asks for the binary on disk, must
// fail with an error naming it, and the service must not notice.
func TestChaosDeletedBinaryConfigReloadStillWorks(t *testing.T) {
	up, admin, web := startHeldUpstream(t), freeAddr(t), freeAddr(t)
	bin := copyBinary(t)
	config := func(body string) string { return chaosConfig(admin, web, up.addr, "", body) }
	d := launch(t, config("one"), launchOptions{bin: bin})
	load := startLoad("http://"+web+"/", 4)
	d.reload(config("two"))
	waitAnswer(t, "http://"+web+"/", "two")

	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	old, before := d.pid(), len(d.log())
	d.writeConfig(config("three"))
	signalPid(t, old, syscall.SIGHUP)
	d.waitFor("the SIGHUP reload to end", func() bool {
		p := d.pid()
		return (p != 0 && p != old) || strings.Contains(d.log()[before:], "reload failed")
	})
	if d.pid() == old {
		t.Fatalf("the SIGHUP reload failed once the binary was deleted:\n%s", d.log()[before:])
	}
	waitAnswer(t, "http://"+web+"/", "three")
	if !strings.Contains(d.log()[before:], "/proc/self/exe") {
		t.Errorf("the log does not say the reload started the running binary (/proc/self/exe):\n%s", d.log()[before:])
	}
	// The old generation shares the admin address until it has heard
	// that the new one is ready and closed its copy; it logs this line
	// after. A request it accepted before would get 409 ("already
	// handed over"), which is right, and not what is tested here.
	d.waitFor("the old generation to stop accepting on the admin address", func() bool {
		return strings.Contains(d.log()[before:], "new generation serves; draining")
	})

	// Reloads this close together can leave two older generations still
	// draining, and a third reload is then refused (409, max_draining)
	// before the binary is looked at: what is tested here is the binary.
	// The serving generation's own count is the one that refuses, and it
	// learns of an exit a moment after /proc shows it: ask it.
	d.waitFor("at most one older generation to drain", func() bool { n := generationsListed(t, admin); return n >= 1 && n <= 2 })
	if a := api(t, "POST", "http://"+admin+"/load", config("four")); a.status != 200 {
		t.Fatalf("POST /load once the binary was deleted: %d %s", a.status, a.raw)
	}
	d.waitFor("at most one older generation to drain", func() bool { n := generationsListed(t, admin); return n >= 1 && n <= 2 })
	a := api(t, "POST", "http://"+admin+"/upgrade", "")
	if a.status == 200 || !strings.Contains(a.raw, bin) || !strings.Contains(a.raw, "no such file") {
		t.Errorf("POST /upgrade with the binary deleted: %d %s, want an error naming %s", a.status, a.raw, bin)
	}
	d.oneGenerationServes(admin, web, "four")
	load.finish(t, d)
}

// generationsListed is how many generations GET /status lists: the one
// that answers and the older ones it still counts as draining.
func generationsListed(t *testing.T, admin string) int {
	t.Helper()
	var st statusBody
	a := api(t, "GET", "http://"+admin+"/status", "")
	if a.status != 200 || json.Unmarshal([]byte(a.raw), &st) != nil {
		return -1
	}
	return len(st.Generations)
}
