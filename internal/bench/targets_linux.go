package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// measureTargets measures what the targets name beyond zero
// failures, each against a flipd of its own.
func (o *Options) measureTargets() (*Targets, error) {
	t := &Targets{Only: o.OnlyTargets}
	type step struct {
		key, name string
		run       func(*Targets) error
	}
	steps := []step{
		{"rss", "idle memory", o.measureIdleRSS},
		{"roundtrip", "POST /load round trip, 10 listeners", o.measureRoundTrip},
		{"reload", "POST /load against an empty Go binary's start", o.measureReloadVsExec},
		{"scaling", "scaling with listeners", o.measureScaling},
		{"libscaling", "1,000 listeners against 4, library benchmark", o.measureLibScaling},
		{"throughput", "throughput against bare net/http", o.measureThroughput},
		{"idle", fmt.Sprintf("%d idle connections drained", o.IdleConns), o.measureIdleDrain},
	}
	for _, key := range o.OnlyTargets {
		if !slices.ContainsFunc(steps, func(s step) bool { return s.key == key }) {
			return t, fmt.Errorf("no target %q (rss, roundtrip, reload, scaling, libscaling, throughput, idle)", key)
		}
	}
	for _, s := range steps {
		if len(o.OnlyTargets) > 0 && !slices.Contains(o.OnlyTargets, s.key) {
			continue
		}
		o.logf("target: %s", s.name)
		if err := s.run(t); err != nil {
			return t, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return t, nil
}

// newFlipd prepares a flipd with its own directory and admin address.
func (o *Options) newFlipd(name string) (*flipdProc, error) {
	dir, err := os.MkdirTemp(o.Dir, name)
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr("")
	if err != nil {
		return nil, err
	}
	return &flipdProc{bin: o.Flipd, dir: dir, admin: admin}, nil
}

// listeners makes n plain HTTP listeners on distinct loopback addresses
// (127.0.1.1, 127.0.1.2, ...), each on a port free a moment ago.
func listeners(n int) ([]listener, error) {
	ls := make([]listener, n)
	for i := range ls {
		addr, err := freeAddr(fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250))
		if err != nil {
			return nil, err
		}
		ls[i] = listener{Name: fmt.Sprintf("l%04d", i), Addr: addr}
	}
	return ls, nil
}

// measureIdleRSS is the resident memory of an idle generation: the
// first, and one started by an upgrade.
func (o *Options) measureIdleRSS(t *Targets) error {
	f, err := o.newFlipd("rss")
	if err != nil {
		return err
	}
	ls, err := listeners(3)
	if err != nil {
		return err
	}
	cfg := func(body string) string { return flipdConfig(f.admin, filepath.Join(f.dir, "storage"), body, ls) }
	if err := f.start(cfg("a")); err != nil {
		return err
	}
	defer f.stop(35 * time.Second)
	time.Sleep(2 * time.Second)
	p, _ := readProc(f.pid())
	t.IdleRSS = p.RSS
	u := f.reload(cfg("b"))
	if u.Err != "" {
		return fmt.Errorf("reload: %s", u.Err)
	}
	waitExited(u.OldPid, 40*time.Second)
	time.Sleep(2 * time.Second)
	p, _ = readProc(f.pid())
	t.IdleRSSUpgraded = p.RSS
	return nil
}

// reloads does n POST /loads of configs alternately, each once the
// generation before has exited, and returns them.
func reloads(f *flipdProc, n int, configs [2]string) ([]Upgrade, error) {
	var ups []Upgrade
	for i := range n {
		u := f.reload(configs[(i+1)%2])
		if u.Err != "" {
			return ups, fmt.Errorf("reload %d: %s", i, u.Err)
		}
		at, ok := waitExited(u.OldPid, 40*time.Second)
		if !ok {
			return ups, fmt.Errorf("reload %d: generation %d did not exit within 40s", i, u.OldPid)
		}
		u.Exited = at.Sub(u.At)
		ups = append(ups, u)
	}
	return ups, nil
}

// upgradeCost starts flipd with n listeners and reloads it times times.
func (o *Options) upgradeCost(name string, n, times int) (ScalePoint, error) {
	f, err := o.newFlipd(name)
	if err != nil {
		return ScalePoint{}, err
	}
	ls, err := listeners(n)
	if err != nil {
		return ScalePoint{}, err
	}
	var configs [2]string
	for i, body := range []string{"a", "b"} {
		configs[i] = flipdConfig(f.admin, filepath.Join(f.dir, "storage"), body, ls)
	}
	if err := f.start(configs[0]); err != nil {
		return ScalePoint{}, err
	}
	defer f.stop(35 * time.Second)
	ups, err := reloads(f, times, configs)
	if err != nil {
		return ScalePoint{}, err
	}
	var ready, exited []time.Duration
	for _, u := range ups {
		ready, exited = append(ready, u.Ready), append(exited, u.Exited)
	}
	slices.Sort(ready)
	slices.Sort(exited)
	p, _ := readProc(f.pid())
	return ScalePoint{Listeners: n, N: len(ups), ReadyP50: Percentile(ready, 0.5), ReadyP99: Percentile(ready, 0.99),
		ReadyMax: ready[len(ready)-1], ExitedP50: Percentile(exited, 0.5), RSS: p.RSS}, nil
}

// measureRoundTrip is the POST /load round trip with 10 listeners.
func (o *Options) measureRoundTrip(t *Targets) error {
	p, err := o.upgradeCost("roundtrip", 10, 50)
	t.RoundTrip = p
	return err
}

// measureScaling is the upgrade's cost with 10, 100 and 1,000 listeners.
func (o *Options) measureScaling(t *Targets) error {
	for _, n := range []int{10, 100, 1000} {
		p, err := o.upgradeCost(fmt.Sprintf("scale%d", n), n, 10)
		if err != nil {
			return err
		}
		t.Scaling = append(t.Scaling, p)
	}
	return nil
}

// measureIdleDrain holds o.IdleConns idle keep-alive connections to
// flipd, upgrades it, and checks that the old generation closed them all
// and exited within drain_timeout without a failed request.
func (o *Options) measureIdleDrain(t *Targets) error {
	f, err := o.newFlipd("idle")
	if err != nil {
		return err
	}
	ls, err := listeners(1)
	if err != nil {
		return err
	}
	var configs [2]string
	for i, body := range []string{"idle-a", "idle-b"} {
		configs[i] = flipdConfig(f.admin, filepath.Join(f.dir, "storage"), body, ls)
	}
	if err := f.start(configs[0]); err != nil {
		return err
	}
	defer f.stop(35 * time.Second)
	cfg := IdleConfig{URL: "http://" + ls[0].Addr + "/", Conns: o.IdleConns, Parallel: 200, Trickle: 200,
		MaxDuration: 60 * time.Second, Timeout: 10 * time.Second, Bodies: []string{"idle-a", "idle-b"}}
	h, err := startHelper(o.Self, childJob{Idle: &cfg}, os.Stderr)
	if err != nil {
		return err
	}
	defer h.stop(30 * time.Second)
	if _, err := h.expect("established ", 5*time.Minute); err != nil {
		return err
	}
	d := &IdleDrain{Conns: o.IdleConns, DrainTimeout: 30 * time.Second}
	p, _ := readProc(f.pid())
	d.RSSWithConns = p.RSS
	u := f.reload(configs[1])
	if u.Err != "" {
		return fmt.Errorf("reload: %s", u.Err)
	}
	d.Ready = u.Ready
	if at, ok := waitExited(u.OldPid, 60*time.Second); ok {
		d.Exited = at.Sub(u.At)
	}
	time.Sleep(500 * time.Millisecond) // the trickle goes on a little
	h.next()
	var res IdleResult
	if err := h.result(&res, 5*time.Minute); err != nil {
		return err
	}
	d.Result = res
	t.Idle = d
	return nil
}
