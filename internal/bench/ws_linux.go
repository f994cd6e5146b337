package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// wsDefaults fills in the ws mode's options.
func (o *Options) wsDefaults() error {
	if o.WSConns <= 0 && o.WSStreams <= 0 {
		o.WSConns, o.WSStreams = defaultWSConns, defaultWSStreams
	}
	o.WSConns, o.WSStreams = max(o.WSConns, 0), max(o.WSStreams, 0)
	if o.WSDrain <= 0 {
		o.WSDrain = defaultWSDrain
	}
	if o.WSBudget <= 0 {
		o.WSBudget = defaultWSBudget
	}
	// The upgrade loop waits 40s at most for an old generation to go.
	if o.WSDrain > 30*time.Second {
		return fmt.Errorf("bench: the ws mode's drain limit %v is above 30s", o.WSDrain)
	}
	return nil
}

// wsTarget is one server of the ws mode, built once the backend listens.
type wsTarget struct {
	name string
	// note says how it is set up, for the report.
	note  string
	build func(dir string, backend EchoAddrs) (srv server, wsAddr, tcpAddr string, err error)
}

// wsTargets lists the ws mode's servers: flipd with handover (its
// default), flipd draining instead, and nginx if installed with its
// stream module.
func (o *Options) wsTargets() (targets []wsTarget, notes []string) {
	flipd := func(label string, move *bool) func(string, EchoAddrs) (server, string, string, error) {
		return func(dir string, backend EchoAddrs) (server, string, string, error) {
			return newWSFlipd(o.Flipd, dir, label, backend, o.WSDrain, move)
		}
	}
	off := false
	targets = []wsTarget{
		{"flipd", fmt.Sprintf("handover (the default); drain_timeout %v", o.WSDrain), flipd("flipd", nil)},
		{"flipd, no handover", fmt.Sprintf(`"move_connections": false; drain_timeout %v`, o.WSDrain), flipd("flipd, no handover", &off)},
	}
	if o.Nginx == "" {
		return targets, []string{"nginx is not installed: its ws run is left out (apt-get install nginx libnginx-mod-stream)"}
	}
	stream, ok := nginxStreamModule(o.Nginx)
	if !ok {
		return targets, []string{"nginx has no stream module for the TCP streams: its ws run is left out (apt-get install libnginx-mod-stream)"}
	}
	targets = append(targets, wsTarget{"nginx", fmt.Sprintf("USR2, WINCH, QUIT; worker_shutdown_timeout %v", o.WSDrain),
		func(dir string, backend EchoAddrs) (server, string, string, error) {
			return newWSNginx(o.Nginx, dir, stream, backend, o.WSDrain)
		}})
	return targets, nil
}

// runWS runs the ws mode against every target.
func (o *Options) runWS() (results []WSResult, notes []string) {
	targets, notes := o.wsTargets()
	for _, t := range targets {
		o.logf("%s, %s: %d websockets and %d tcp streams, %d upgrades (%v at most)", t.name, ModeWS, o.WSConns, o.WSStreams, o.Upgrades, o.WSBudget)
		r := o.runWSOne(t)
		o.logf("  %s", r.line())
		results = append(results, r)
	}
	return results, notes
}

// runWSOne starts the echo backend, the target in front of it and the
// client, upgrades the target o.Upgrades times (or as many as fit in
// o.WSBudget), waits for the old generations to go, and reports.
func (o *Options) runWSOne(t wsTarget) WSResult {
	r := WSResult{Server: t.name, Note: t.note, Conns: o.WSConns, Streams: o.WSStreams, Drain: o.WSDrain, Budget: o.WSBudget}
	dir, err := os.MkdirTemp(o.Dir, "ws")
	if err != nil {
		r.Err = err.Error()
		return r
	}
	backend, err := startHelper(o.Self, childJob{Echo: &EchoConfig{}}, os.Stderr)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer backend.stop(10 * time.Second)
	raw, err := backend.expect("ready ", 30*time.Second)
	var addrs EchoAddrs
	if err == nil {
		err = json.Unmarshal([]byte(raw), &addrs)
	}
	if err != nil {
		r.Err = "echo backend: " + err.Error()
		return r
	}
	built, wsAddr, tcpAddr, err := t.build(dir, addrs)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	srv := wsServer{built}
	if err := srv.start(); err != nil {
		r.Err = wsStartError(t.name, err)
		return r
	}
	defer srv.stop()

	cfg := WSLoadConfig{URL: "ws://" + wsAddr + "/echo", TCPAddr: tcpAddr, Conns: o.WSConns, Streams: o.WSStreams, Every: wsEvery,
		Chunk: 4096, StreamEvery: 20 * time.Millisecond, Stall: 5 * time.Second, Settle: 3 * time.Second, Bucket: time.Second,
		// An upper bound only: the run stops the client when it is done.
		Duration: 2*time.Minute + o.WSBudget + 2*o.WSDrain}
	client, err := startHelper(o.Self, childJob{WS: &cfg}, os.Stderr)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer client.stop(10 * time.Second)
	if _, err := client.expect("ready", 60*time.Second); err != nil {
		r.Err = "ws client: " + err.Error()
		return r
	}
	start := time.Now()
	r.Start = start
	stopSampling := o.sample(srv, start, &r.Procs)
	time.Sleep(time.Second) // traffic before the first upgrade
	r.Upgrades = o.upgradesUntil(srv, start.Add(o.WSBudget), func(int) {
		r.OpenAtUpgrade = append(r.OpenAtUpgrade, waitOpen(o.WSConns+o.WSStreams, 10*time.Second, wsAddr, tcpAddr))
	})
	time.Sleep(time.Second) // and after the last; its old generation has gone by now

	client.next()
	err = client.result(&r.Load, 60*time.Second)
	stopSampling()
	if err != nil {
		r.Err = "ws client: " + err.Error()
		return r
	}
	backend.next()
	if err := backend.result(&r.Backend, 10*time.Second); err != nil {
		r.Err = "echo backend: " + err.Error()
	}
	return r
}

// wsStartError says why a target did not start; flipd refusing
// "move_connections" is a build without the knob yet.
func wsStartError(name string, err error) string {
	msg := err.Error()
	for _, line := range strings.Split(msg, "\n") {
		if strings.Contains(line, "move_connections") {
			return fmt.Sprintf(`%s: flipd refused the config's "upgrade": {"move_connections": false}, `+
				`so this build has no such knob yet (it comes with connection handover): %s`, name, strings.TrimSpace(line))
		}
	}
	return fmt.Sprintf("%s did not start: %s", name, msg)
}

// wsServer is a server as the ws mode upgrades it: the next upgrade
// waits until the last old generation has gone, so that each old
// generation holds every connection when it hands over (or cuts them).
type wsServer struct{ server }

func (wsServer) oldLimit() int { return 0 }

// waitOpen waits, up to limit, until want connections are established
// to addrs (the clients that lost theirs have opened them again), and
// returns how many were.
func waitOpen(want int, limit time.Duration, addrs ...string) int {
	deadline := time.Now().Add(limit)
	for {
		n, err := establishedTo(addrs...)
		if err != nil || n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}
