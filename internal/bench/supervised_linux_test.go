package bench

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// buildFlipd builds flipd into a temporary directory, or skips.
func buildFlipd(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds flipd and starts it")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("builds flipd and needs the go command")
	}
	bin := filepath.Join(t.TempDir(), "flipd")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/flipd/flipd/cmd/flipd").CombinedOutput(); err != nil {
		t.Fatalf("building flipd: %v\n%s", err, out)
	}
	return bin
}

// TestTheBenchmarkRunsFlipdSupervised starts flipd as the benchmark does
// and checks what it measures: one supervisor pid for life, named by the
// PID file; the generations below it, each old one gone after its upgrade;
// the sampler telling the supervisor from the generations; a naive restart
// that replaces the supervisor; a stop that leaves no process.
func TestTheBenchmarkRunsFlipdSupervised(t *testing.T) {
	bin := buildFlipd(t)
	dir := t.TempDir()
	admin, err := freeAddr("")
	if err != nil {
		t.Fatal(err)
	}
	addr, err := freeAddr("")
	if err != nil {
		t.Fatal(err)
	}
	var configs [2]string
	for i, body := range []string{"sup-a", "sup-b"} {
		configs[i] = flipdConfig(admin, filepath.Join(dir, "storage"), body, []listener{{Name: "web", Addr: addr}})
	}
	f := &flipdProc{bin: bin, dir: dir, admin: admin}
	if err := f.start(configs[0]); err != nil {
		t.Fatal(err)
	}
	defer f.stop(35 * time.Second)
	sup := f.supervisor()
	if sup != f.cmd.Process.Pid || f.pidFile() != sup {
		t.Fatalf("supervisor %d, started pid %d, PID file %d: want one pid", sup, f.cmd.Process.Pid, f.pidFile())
	}
	checkTree := func(serving int) {
		t.Helper()
		all := snapshot()
		p, ok := all[serving]
		if !ok || f.role(p, all) != roleGeneration {
			t.Fatalf("the serving generation %d is not a generation below the supervisor %d", serving, sup)
		}
		if s, ok := all[sup]; !ok || s.State == 'Z' || f.role(s, all) != roleSupervisor {
			t.Fatalf("the supervisor %d is not running, or not told apart", sup)
		}
	}
	checkTree(f.pid())
	for i := 1; i <= 3; i++ {
		u := f.reload(configs[i%2])
		if u.Err != "" {
			t.Fatalf("reload %d: %s\n%s", i, u.Err, f.logTail())
		}
		if u.OldPid == 0 || u.OldPid == sup || u.NewPid != f.pid() || f.supervisor() != sup {
			t.Fatalf("reload %d: old %d, new %d, serving %d, supervisor %d (was %d)", i, u.OldPid, u.NewPid, f.pid(), f.supervisor(), sup)
		}
		checkTree(u.NewPid)
		if _, ok := waitExited(u.OldPid, 40*time.Second); !ok {
			t.Fatalf("reload %d: the old generation %d did not exit", i, u.OldPid)
		}
		if got := get(t, "http://"+addr+"/"); got != []string{"sup-a", "sup-b"}[i%2] {
			t.Fatalf("reload %d: the listener answers %q", i, got)
		}
	}

	u := f.restart(configs[0])
	if u.Err != "" || u.OldPid != sup || u.NewPid == sup || u.NewPid != f.supervisor() || u.Exited <= 0 {
		t.Fatalf("naive restart: %+v (supervisor was %d)", u, sup)
	}
	if _, ok := readProc(sup); ok {
		t.Fatalf("the old supervisor %d is still there after the restart", sup)
	}
	sup = f.supervisor()
	checkTree(f.pid())

	f.stop(35 * time.Second)
	select {
	case <-f.exited:
	default:
		t.Fatal("the supervisor has not exited after stop")
	}
	for _, p := range descendants(os.Getpid()) {
		if p.State != 'Z' && p.Comm == commOf(bin) {
			t.Errorf("left after stop: %d %s %s", p.Pid, p.Comm, cmdline(p.Pid))
			syscall.Kill(p.Pid, syscall.SIGKILL)
		}
	}
}

// get answers the body of a GET to url.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
