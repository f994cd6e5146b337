package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// server is what a run upgrades: flipd, flipd restarted naively, nginx.
type server interface {
	name() string
	start() error
	stop()
	// url is where a mode's load goes; "" if the server cannot do it.
	url(Mode) string
	bodies() []string
	ca() string
	// upgrade returns once the new generation serves (or failed to).
	upgrade(i int) Upgrade
	// oldLimit is how many old generations may still run when the next
	// upgrade starts.
	oldLimit() int
	// role says what a process below the benchmark is to the server;
	// all is every process, to look up its ancestors.
	role(p proc, all procTree) role
}

// role is what a process below the benchmark is to a server.
type role int

const (
	// roleNone is a process not the server's (a load generator).
	roleNone role = iota
	// roleWorker is a process of the server that is not a generation
	// (an nginx worker).
	roleWorker
	// roleGeneration is a generation: a flipd generation, an nginx
	// master.
	roleGeneration
	// roleSupervisor is the process in front of flipd's generations
	// that never serves (flipd supervise): measured on its own.
	roleSupervisor
)

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// prepare fills in defaults, builds flipd, finds nginx and readies the
// process: subreaper, open-file limit.
func (o *Options) prepare() (cleanup func(), err error) {
	cleanup = func() {}
	if len(o.Self) == 0 {
		return cleanup, fmt.Errorf("bench: Options.Self is empty")
	}
	if len(o.Modes) == 0 {
		o.Modes = Modes
	}
	o.Upgrades, o.Rate = max(o.Upgrades, 1), max(o.Rate, 1)
	if o.Conns <= 0 {
		o.Conns = 64
	}
	if o.Interval <= 0 {
		o.Interval = 250 * time.Millisecond
	}
	if o.H3Conns <= 0 {
		o.H3Conns = defaultH3Conns
	}
	if o.IdleConns <= 0 {
		o.IdleConns = 10000
	}
	if err := o.wsDefaults(); err != nil {
		return cleanup, err
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "flipd-bench")
		if err != nil {
			return cleanup, err
		}
		o.Dir, cleanup = dir, func() { os.RemoveAll(dir) }
	}
	if err := becomeSubreaper(); err != nil {
		return cleanup, fmt.Errorf("becoming subreaper: %w", err)
	}
	if _, err := raiseNoFile(); err != nil {
		return cleanup, fmt.Errorf("raising the open-file limit: %w", err)
	}
	if o.Flipd == "" {
		o.Flipd = filepath.Join(o.Dir, "flipd")
		o.logf("building flipd into %s", o.Flipd)
		build := exec.Command("go", "build", "-o", o.Flipd, "github.com/flipd/flipd/cmd/flipd")
		if out, err := build.CombinedOutput(); err != nil {
			return cleanup, fmt.Errorf("building flipd: %w\n%s", err, out)
		}
	}
	switch o.Nginx {
	case "none":
		o.Nginx = ""
	case "":
		if p, err := exec.LookPath("nginx"); err == nil {
			o.Nginx = p
		} else if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
			o.Nginx = "/usr/sbin/nginx"
		}
	}
	if o.Nginx != "" {
		if abs, err := filepath.Abs(o.Nginx); err == nil {
			o.Nginx = abs
		}
	}
	return cleanup, nil
}

// servers builds the servers a run compares, each in its own directory.
func (o *Options) servers(hasTLS bool) ([]func() (server, error), []string) {
	mk := func(name string, f func(dir string) (server, error)) func() (server, error) {
		return func() (server, error) {
			dir, err := os.MkdirTemp(o.Dir, name)
			if err != nil {
				return nil, err
			}
			return f(dir)
		}
	}
	out := []func() (server, error){
		mk("flipd", func(dir string) (server, error) { return newFlipdServer(o.Flipd, dir, false, hasTLS) }),
	}
	names := []string{"flipd"}
	if o.Nginx != "" {
		out = append(out, mk("nginx", func(dir string) (server, error) { return newNginxServer(o.Nginx, dir) }))
		names = append(names, "nginx")
	}
	out, names = o.peerServers(mk, out, names)
	out = append(out, mk("naive", func(dir string) (server, error) { return newFlipdServer(o.Flipd, dir, true, hasTLS) }))
	return out, append(names, "flipd, naive restart")
}

// runOne starts srv, sends mode's load from a helper process, upgrades
// srv o.Upgrades times, and reports.
func (o *Options) runOne(srv server, mode Mode) Result {
	r := Result{Server: srv.name(), Mode: mode}
	url := srv.url(mode)
	if url == "" {
		r.Skipped = "flipd has no listener_wrappers.tls module"
		return r
	}
	if err := srv.start(); err != nil {
		r.Err = err.Error()
		return r
	}
	defer srv.stop()

	cfg := LoadConfig{Mode: mode, URL: url, Rate: o.Rate, Timeout: 5 * time.Second, Bodies: srv.bodies(),
		CAPEM: srv.ca(), Bucket: 100 * time.Millisecond,
		// An upper bound only: the run stops the load when it is done.
		Duration: 2*time.Minute + time.Duration(o.Upgrades)*(o.Interval+2*time.Second)}
	switch {
	case mode.keepsConns():
		cfg.Conns, cfg.Workers = o.Conns, o.Conns
	case mode == ModeH2:
		cfg.Conns, cfg.Workers = 8, 64
	case mode == ModeH3:
		cfg.Conns, cfg.Workers = o.H3Conns, 64
	default:
		cfg.Workers = 256
	}
	load, err := startHelper(o.Self, childJob{Load: &cfg}, os.Stderr)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer load.stop(10 * time.Second)
	if _, err := load.expect("ready", 30*time.Second); err != nil {
		r.Err = err.Error()
		return r
	}
	loadStart := time.Now()
	stopSampling := o.sample(srv, loadStart, &r.Procs)

	time.Sleep(time.Second) // load before the first upgrade
	r.Upgrades = o.upgrades(srv)
	time.Sleep(time.Second) // and after the last

	load.next()
	err = load.result(&r.Load, 60*time.Second)
	stopSampling()
	if err != nil {
		r.Err = "load: " + err.Error()
	}
	return r
}

// upgrades does o.Upgrades upgrades, one every o.Interval (or as soon as
// the last is done, if it took longer), and watches each old generation
// until it exits.
func (o *Options) upgrades(srv server) []Upgrade { return o.upgradesUntil(srv, time.Time{}, nil) }

// upgradesUntil is upgrades, but starts none after until (if not zero),
// and calls before (if not nil) right before each: it returns those done.
func (o *Options) upgradesUntil(srv server, until time.Time, before func(i int)) []Upgrade {
	ups := make([]Upgrade, o.Upgrades)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var draining []int // old pids not exited yet
	start := time.Now()
	done := len(ups)
	for i := range ups {
		if wait := time.Until(start.Add(time.Duration(i) * o.Interval)); wait > 0 {
			time.Sleep(wait)
		}
		// Bounded: each old generation exits by drain_timeout (30s).
		for deadline := time.Now().Add(40 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			live := draining[:0]
			for _, pid := range draining {
				if !exited(pid) {
					live = append(live, pid)
				}
			}
			if draining = live; len(draining) <= srv.oldLimit() {
				break
			}
		}
		if !until.IsZero() && time.Now().After(until) {
			done = i
			break
		}
		if before != nil {
			before(i)
		}
		u := srv.upgrade(i)
		u.Index = i
		mu.Lock()
		ups[i] = u
		mu.Unlock()
		if u.Err != "" {
			o.logf("  upgrade %d: %s", i, u.Err)
			continue
		}
		if u.Exited == 0 && u.OldPid > 0 {
			draining = append(draining, u.OldPid)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if at, ok := waitExited(u.OldPid, 60*time.Second); ok {
					mu.Lock()
					ups[i].Exited = at.Sub(u.At)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	return ups[:done]
}

// sample records the server's generations and memory every 100 ms until
// the returned func is called.
func (o *Options) sample(srv server, start time.Time, out *[]ProcSample) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		self := os.Getpid()
		for {
			s := ProcSample{T: time.Since(start)}
			all := snapshot()
			for _, p := range all.below(self) {
				if p.State == 'Z' {
					continue
				}
				switch srv.role(p, all) {
				case roleSupervisor:
					s.SupervisorRSS += p.RSS
				case roleGeneration:
					s.Generations++
					s.Processes++
					s.RSS += p.RSS
				case roleWorker:
					s.Processes++
					s.RSS += p.RSS
				}
			}
			*out = append(*out, s)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
