package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The soak upgrades one flipd o.Upgrades times under load and compares
// what the last generation (the survivor) holds with what generation 1
// held: a descriptor, goroutine, memory or process that one upgrade
// leaks shows a thousand times over. Both are measured the same way: at
// rest, after the same kind of load, once every older generation exited.

// Soak runs the soak with o.Upgrades, o.Rate (half keep-alive POSTs,
// half a new connection per GET), o.Conns and o.Interval.
func Soak(o Options) (*SoakResult, error) {
	o.Nginx = "none"
	cleanup, err := o.prepare()
	defer cleanup()
	if err != nil {
		return nil, err
	}
	stopReaper := startReaper()
	defer stopReaper()
	dir, err := os.MkdirTemp(o.Dir, "soak")
	if err != nil {
		return nil, err
	}
	srv, err := newFlipdServer(o.Flipd, dir, false, false)
	if err != nil {
		return nil, err
	}
	res := &SoakResult{Upgrades: o.Upgrades, Rate: o.Rate, Machine: machine()}
	start := time.Now()
	if err := srv.start(); err != nil {
		return nil, err
	}
	defer srv.stop()

	// Generation 1: two seconds of the same load, then at rest.
	if err := o.soakLoad(srv, res, func() { time.Sleep(2 * time.Second) }); err != nil {
		return res, err
	}
	if res.First, err = srv.figures(); err != nil {
		return res, fmt.Errorf("generation 1: %w", err)
	}
	o.logf("generation 1: %+v", res.First)

	err = o.soakLoad(srv, res, func() {
		o.logf("%d upgrades, one every %v at most, under %d requests/s", o.Upgrades, o.Interval, o.Rate)
		for i, u := range o.upgrades(srv) {
			if u.Err != "" {
				res.FailedUps = append(res.FailedUps, fmt.Sprintf("upgrade %d (%s): %s", i, u.How, u.Err))
			}
		}
		o.logf("upgrades done after %s", time.Since(start).Round(time.Second))
	})
	if err != nil {
		return res, err
	}
	if res.Survivor, err = srv.figures(); err != nil {
		return res, fmt.Errorf("the survivor: %w", err)
	}
	for _, p := range descendants(os.Getpid()) {
		if p.Pid != res.Survivor.Pid && p.Pid != res.Survivor.SupervisorPid && p.State != 'Z' {
			res.Left = append(res.Left, fmt.Sprintf("%d %s (%c) %s", p.Pid, p.Comm, p.State, cmdline(p.Pid)))
		}
	}
	res.Took = time.Since(start)
	return res, nil
}

// soakLoad runs keep-alive POSTs and a new connection per GET, each at
// half of o.Rate, while during runs; then it stops them, adds up what
// they saw, and waits for the server to be at rest again.
func (o *Options) soakLoad(srv *flipdServer, res *SoakResult, during func()) error {
	var loads []*helper
	defer func() {
		for _, h := range loads {
			h.stop(10 * time.Second)
		}
	}()
	for _, mode := range []Mode{ModeKeepAlive, ModeConn} {
		cfg := LoadConfig{Mode: mode, URL: srv.url(mode), Rate: max(o.Rate/2, 1), Timeout: 5 * time.Second,
			Bodies: srv.bodies(), Bucket: time.Second, Workers: 64,
			Duration: 2*time.Minute + time.Duration(o.Upgrades)*(o.Interval+2*time.Second)}
		if mode.keepsConns() {
			cfg.Conns, cfg.Workers = o.Conns, o.Conns
		}
		h, err := startHelper(o.Self, childJob{Load: &cfg}, os.Stderr)
		if err != nil {
			return err
		}
		loads = append(loads, h)
		if _, err := h.expect("ready", 30*time.Second); err != nil {
			return err
		}
	}
	during()
	for _, h := range loads {
		h.next()
		var s Summary
		if err := h.result(&s, 60*time.Second); err != nil {
			return fmt.Errorf("load: %w", err)
		}
		res.Requests += s.Requests
		res.Failed += s.Failed()
		res.Retries += s.Retries
		for kind, ex := range s.Examples {
			for _, e := range ex {
				res.Examples = append(res.Examples, string(kind)+": "+e)
			}
		}
	}
	// At rest: the clients are gone, and so are their connections.
	time.Sleep(time.Second)
	return nil
}

// figures measures the serving generation and the supervisor, and counts
// the server's processes: the supervisor and every live process below it.
func (s *flipdServer) figures() (Figures, error) {
	f := Figures{Pid: s.proc.pid(), SupervisorPid: s.proc.supervisor()}
	p, ok := readProc(f.Pid)
	if !ok {
		return f, fmt.Errorf("the serving generation, pid %d, is not running", f.Pid)
	}
	f.RSS = p.RSS
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(f.Pid) + "/fd")
	if err != nil {
		return f, err
	}
	f.FDs = len(fds)
	if f.Goroutines, err = s.proc.metric("go_goroutines"); err != nil {
		return f, err
	}
	st, err := s.proc.status()
	if err != nil {
		return f, err
	}
	if st.Pid != f.Pid {
		return f, fmt.Errorf("GET /status is answered by pid %d, not by the serving generation, pid %d", st.Pid, f.Pid)
	}
	f.Generation = st.Generation
	sup, ok := readProc(f.SupervisorPid)
	if !ok || sup.State == 'Z' {
		return f, fmt.Errorf("the supervisor, pid %d, is not running", f.SupervisorPid)
	}
	f.SupervisorRSS, f.Processes = sup.RSS, 1
	for _, q := range descendants(f.SupervisorPid) {
		if q.State != 'Z' {
			f.Processes++
		}
	}
	return f, nil
}

// metric reads one unlabelled value from GET /metrics.
func (f *flipdProc) metric(name string) (int, error) {
	resp, err := adminClient.Get("http://" + f.admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(n), err
		}
	}
	return 0, fmt.Errorf("GET /metrics has no %s", name)
}
