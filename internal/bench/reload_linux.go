package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// reloadAlternations is how many times each of the empty binary's start
// and the POST /load round trip is measured, idle and again under load.
const reloadAlternations = 25

// reloadLoadRate is the load under which the round trip is measured again.
const reloadLoadRate = 2000

// measureReloadVsExec alternates the start of an empty Go binary built
// into the benchmark's directory, "flipd version", a POST /load round
// trip on a flipd with 10 listeners and its standby (upgrade.standby),
// and the same on a flipd without one; then the empty binary and the
// round trip with the standby again under reloadLoadRate keep-alive
// requests a second. Each reload with the standby first waits, untimed,
// until the standby is warm: it starts once the old generation has
// exited, so it is, a few tens of milliseconds after a reload.
func (o *Options) measureReloadVsExec(t *Targets) error {
	empty, err := buildEmpty(o.Dir)
	if err != nil {
		return err
	}
	r := &ReloadCost{LoadRate: reloadLoadRate}
	t.Reload = r
	if trace, err := traceInit(o.Flipd); err == nil {
		r.InitDone = parseInitDone(trace)
	}
	f, err := o.reloadFlipd("reload", true)
	if err != nil {
		return err
	}
	defer f.stop(35 * time.Second)
	g, err := o.reloadFlipd("reload-exec", false)
	if err != nil {
		return err
	}
	defer g.stop(35 * time.Second)
	for range reloadAlternations {
		d, err := timeRun(empty)
		if err != nil {
			return err
		}
		r.Empty = append(r.Empty, d)
		if d, err = timeRun(o.Flipd, "version"); err != nil {
			return err
		}
		r.Version = append(r.Version, d)
		if d, err = f.next(); err != nil {
			return err
		}
		r.Idle = append(r.Idle, d)
		if d, err = g.next(); err != nil {
			return err
		}
		r.NoStandby = append(r.NoStandby, d)
	}
	log := readLog(f.flipdProc)
	r.Startup, r.Phases = parseStartups(log), parsePhases(log)
	r.PhasesNoStandby = parsePhases(readLog(g.flipdProc))
	ls := f.ls
	conns := o.Conns
	if conns <= 0 {
		conns = 16
	}
	cfg := LoadConfig{Mode: ModeKeepAlive, URL: "http://" + ls[0].Addr + "/", Rate: reloadLoadRate, Conns: conns, Workers: conns,
		Timeout: 5 * time.Second, Bodies: []string{"a", "b"}, Bucket: time.Second, Duration: 5 * time.Minute}
	load, err := startHelper(o.Self, childJob{Load: &cfg}, os.Stderr)
	if err != nil {
		return err
	}
	defer load.stop(10 * time.Second)
	if _, err := load.expect("ready", 30*time.Second); err != nil {
		return err
	}
	time.Sleep(time.Second)
	for range reloadAlternations {
		d, err := timeRun(empty)
		if err != nil {
			return err
		}
		r.EmptyLoaded = append(r.EmptyLoaded, d)
		if d, err = f.next(); err != nil {
			return err
		}
		r.Loaded = append(r.Loaded, d)
	}
	load.next()
	var s Summary
	if err := load.result(&s, 60*time.Second); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	r.LoadFailed = s.Failed()
	return nil
}

// reloadFlipd is a flipd with 10 listeners, reloaded between two configs.
type reloadFlipd struct {
	*flipdProc
	ls      []listener
	configs [2]string
	standby bool
	loads   int
}

// reloadFlipd starts a flipd with 10 listeners, with or without the
// standby, logging at info (flipd's default) so that each generation logs
// its startup and phases.
func (o *Options) reloadFlipd(name string, standby bool) (*reloadFlipd, error) {
	f, err := o.newFlipd(name)
	if err != nil {
		return nil, err
	}
	ls, err := listeners(10)
	if err != nil {
		return nil, err
	}
	rf := &reloadFlipd{flipdProc: f, ls: ls, standby: standby}
	for i, body := range []string{"a", "b"} {
		cfg := flipdConfig(f.admin, filepath.Join(f.dir, "storage"), body, ls)
		cfg = strings.Replace(cfg, `"level": "warn"`, `"level": "info"`, 1)
		if standby {
			cfg = withStandby(cfg)
		}
		rf.configs[i] = cfg
	}
	if err := f.start(rf.configs[0]); err != nil {
		return nil, err
	}
	return rf, nil
}

// next reloads to the other config once the standby is warm (with one),
// returns the round trip, and waits until the old generation has exited
// and, with a standby, the next one is warm: so that its start does not
// run beside what is timed next.
func (f *reloadFlipd) next() (time.Duration, error) {
	if f.standby {
		if err := f.waitStandby(30 * time.Second); err != nil {
			return 0, err
		}
	}
	f.loads++
	u := f.reload(f.configs[f.loads%2])
	if u.Err != "" {
		return 0, fmt.Errorf("reload %d: %s", f.loads, u.Err)
	}
	if _, ok := waitExited(u.OldPid, 40*time.Second); !ok {
		return 0, fmt.Errorf("reload %d: generation %d did not exit within 40s", f.loads, u.OldPid)
	}
	if f.standby {
		if err := f.waitStandby(30 * time.Second); err != nil {
			return 0, err
		}
	}
	return u.Ready, nil
}

// buildEmpty builds "package main; func main(){}" into dir.
func buildEmpty(dir string) (string, error) {
	src := filepath.Join(dir, "empty")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "empty-go")
	build := exec.Command("go", "build", "-o", bin, "main.go")
	build.Dir = src
	build.Env = append(os.Environ(), "GO111MODULE=off")
	var out strings.Builder
	build.Stdout, build.Stderr = &out, &out
	exited, err := startManaged(build)
	if err != nil {
		return "", fmt.Errorf("building the empty Go binary: %w", err)
	}
	<-exited
	if err := build.ProcessState; !err.Success() {
		return "", fmt.Errorf("building the empty Go binary: %s: %s", err, out.String())
	}
	return bin, nil
}

// timeRun is the wall time of starting bin and waiting for it. It is
// started as a managed child, so that the reaper of orphans leaves it to
// its own wait.
func timeRun(bin string, args ...string) (time.Duration, error) {
	cmd := exec.Command(bin, args...)
	start := time.Now()
	exited, err := startManaged(cmd)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", bin, err)
	}
	<-exited
	d := time.Since(start)
	if !cmd.ProcessState.Success() {
		return 0, fmt.Errorf("%s %s: %s", bin, strings.Join(args, " "), cmd.ProcessState)
	}
	return d, nil
}

// traceInit is "flipd version"'s GODEBUG=inittrace=1 output.
func traceInit(flipd string) (string, error) {
	var out strings.Builder
	cmd := exec.Command(flipd, "version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	cmd.Stdout, cmd.Stderr = &out, &out
	exited, err := startManaged(cmd)
	if err != nil {
		return "", err
	}
	<-exited
	return out.String(), nil
}

func readLog(f *flipdProc) string {
	b, _ := os.ReadFile(filepath.Join(f.dir, "flipd.log"))
	return string(b)
}
