//go:build linux

package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSuperviseAsPID1OfANewPIDNamespace runs the supervisor where a
// container runtime would: as PID 1 of its own PID namespace, where the
// kernel kills every process of the namespace when PID 1 exits.
func TestSuperviseAsPID1OfANewPIDNamespace(t *testing.T) {
	requireUnshare(t)
	lh := buildLibraryHTTP(t)
	addr := freeAddr(t)
	s := startSupervised(t, addr, "unshare", "-pf", "--mount-proc", "--",
		flipdBin, "supervise", "--pidfile", "PIDFILE", "--", lh, "-listen", addr, "-drain-timeout", "20s")
	s.waitGeneration(1, 20*time.Second)
	pid1 := childRunning(t, s.cmd.Process.Pid, flipdBin)
	requirePIDFile(t, s.pidFile, 1) // its pid inside the namespace

	load := startPostLoad(addr)
	gen := 1
	for range superviseReloads {
		gen = s.reload(pid1)
	}
	time.Sleep(300 * time.Millisecond)
	load.stop(t)
	if g := s.generation(); g < superviseReloads+1 || g != gen {
		t.Errorf("generation %d serves after %d reloads (last seen %d), want %d or more", g, superviseReloads, gen, superviseReloads+1)
	}
	if parentOf(pid1) != s.cmd.Process.Pid {
		t.Fatalf("PID 1 of the namespace (pid %d outside) is gone", pid1)
	}

	syscall.Kill(pid1, syscall.SIGTERM)
	if code := s.waitExit(30 * time.Second); code != 0 {
		t.Errorf("PID 1 exited with status %d after SIGTERM, want 0", code)
	}
	requireNoneLeft(t, lh, addr)
	if !strings.Contains(s.log(), "every generation is gone; exiting") {
		t.Error("PID 1 did not log that it waited for every generation")
	}
}

// TestSuperviseAsPID1WithTheHostsProc runs PID 1 without a /proc of its
// namespace (unshare -pf without --mount-proc), where the supervisor cannot
// walk the process tree: it must still follow the generations.
func TestSuperviseAsPID1WithTheHostsProc(t *testing.T) {
	requireUnshare(t)
	lh := buildLibraryHTTP(t)
	addr := freeAddr(t)
	s := startSupervised(t, addr, "unshare", "-pf", "--",
		flipdBin, "supervise", "--", lh, "-listen", addr, "-drain-timeout", "20s")
	s.waitGeneration(1, 20*time.Second)
	pid1 := childRunning(t, s.cmd.Process.Pid, flipdBin)
	for range 3 {
		s.reload(pid1)
	}
	syscall.Kill(pid1, syscall.SIGTERM)
	if code := s.waitExit(30 * time.Second); code != 0 {
		t.Errorf("PID 1 exited with status %d after SIGTERM, want 0", code)
	}
	requireNoneLeft(t, lh, addr)
}

// requireUnshare skips t unless this process may create PID namespaces.
func requireUnshare(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare -pf --mount-proc")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare is not in PATH:", err)
	}
	if out, err := exec.Command("unshare", "-pf", "--mount-proc", "true").CombinedOutput(); err != nil {
		t.Skipf("unshare -pf --mount-proc does not work here: %v: %s", err, out)
	}
}
