package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flipd/flipd/internal/bench"
)

func run() {
	bench.ChildMain() // a load generator or another helper: does its job and exits

	o := bench.Options{Log: os.Stderr}
	flag.IntVar(&o.Upgrades, "upgrades", 100, "upgrades in each run (a server in a mode)")
	flag.IntVar(&o.Rate, "rate", 2000, "requests per second, open loop")
	flag.IntVar(&o.Conns, "conns", 64, "keep-alive connections in the keepalive mode")
	flag.DurationVar(&o.Interval, "interval", 250*time.Millisecond, "time from one upgrade's start to the next's")
	modes := flag.String("modes", "conn,keepalive,tls,h2", "modes to run, comma-separated (also: tlsconn, a new TLS connection per request; "+
		"ws, WebSockets and TCP streams through upgrades, against flipd with and without handover and nginx; "+
		"h3, POSTs over long-lived HTTP/3 connections through upgrades, against flipd with and without QUIC forwarding)")
	flag.IntVar(&o.H3Conns, "h3-conns", 16, "QUIC connections in the h3 mode")
	flag.IntVar(&o.WSConns, "ws-conns", 200, "WebSockets in the ws mode, each sending a message every 100 ms")
	flag.IntVar(&o.WSStreams, "ws-streams", 20, "TCP streams in the ws mode, each writing a counter stream")
	flag.DurationVar(&o.WSDrain, "ws-drain", 10*time.Second, "in the ws mode, flipd's drain_timeout and nginx's worker_shutdown_timeout (30s at most)")
	flag.DurationVar(&o.WSBudget, "ws-budget", 3*time.Minute, "in the ws mode, the time each server may spend upgrading (nginx upgrades once per -ws-drain at most)")
	flag.StringVar(&o.Flipd, "flipd", "", "flipd binary (default: build ./cmd/flipd)")
	flag.StringVar(&o.Nginx, "nginx", "", `nginx binary (default: from PATH or /usr/sbin; "none" to leave nginx out)`)
	flag.StringVar(&o.Caddy, "caddy", "", `Caddy binary (default: the latest release, built from the Go module proxy once and cached; "none" to leave Caddy out)`)
	flag.StringVar(&o.HAProxy, "haproxy", "", `haproxy binary (default: from PATH or /usr/sbin; "none" to leave HAProxy out)`)
	flag.BoolVar(&o.Memory, "memory", false, "also measure each server's resident memory (generation and supervisor), idle and with -idle-conns idle keep-alive connections")
	runs := flag.Bool("runs", true, "run the load-while-upgrading comparison (-runs=false with -targets measures only the targets)")
	flag.BoolVar(&o.Targets, "targets", false, "also measure the other targets: POST /load round trip, scaling, throughput, idle drain, idle RSS")
	only := flag.String("target-only", "", "with -targets, measure only these targets, comma-separated: rss (idle memory), roundtrip (POST /load, 10 listeners), "+
		"reload (against an empty Go binary's start), scaling (10, 100, 1,000 listeners), throughput (static_response against bare net/http), idle (idle connections drained)")
	flag.IntVar(&o.IdleConns, "idle-conns", 10000, "idle keep-alive connections in the drain target")
	out := flag.String("out", "", "directory for latency.svg (ws.svg for the ws mode, h3.svg for the h3 mode), results.md and results.json (default: none written)")
	soak := flag.Bool("soak", false, "soak instead: upgrade one flipd -upgrades times under load and compare the survivor's descriptors, goroutines, memory and processes with generation 1's")
	flag.Parse()
	o.SkipRuns = !*runs
	if *only != "" {
		for _, t := range strings.Split(*only, ",") {
			o.OnlyTargets = append(o.OnlyTargets, strings.TrimSpace(t))
		}
	}
	for _, m := range strings.Split(*modes, ",") {
		o.Modes = append(o.Modes, bench.Mode(strings.TrimSpace(m)))
	}
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	o.Self = []string{self}
	if *soak {
		runSoak(o)
		return
	}

	rep, err := bench.Run(o)
	if rep != nil {
		fmt.Println(rep.Markdown())
		if *out != "" {
			if werr := write(*out, rep); werr != nil {
				fail(werr)
			}
		}
	}
	if err != nil {
		fail(err)
	}
	if bad := rep.FlipdFailures(); len(bad) > 0 {
		fmt.Fprintln(os.Stderr, "flipd-bench: flipd failed requests during upgrades:")
		for _, b := range bad {
			fmt.Fprintln(os.Stderr, "  "+b)
		}
		os.Exit(1)
	}
}

// runSoak runs the soak, prints its table and exits 1 if anything went
// beyond its tolerance.
func runSoak(o bench.Options) {
	res, err := bench.Soak(o)
	if res != nil && res.Survivor.Pid != 0 {
		fmt.Println(res.Markdown())
	}
	if err != nil {
		fail(err)
	}
	if bad := res.Failures(); len(bad) > 0 {
		fmt.Fprintln(os.Stderr, "flipd-bench: the soak went beyond its tolerances:")
		for _, b := range bad {
			fmt.Fprintln(os.Stderr, "  "+b)
		}
		os.Exit(1)
	}
}

// write saves the plot, the table and the raw results in dir.
func write(dir string, rep *bench.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"results.md":   []byte(rep.Markdown()),
		"results.json": raw,
	}
	if len(rep.Results) > 0 {
		files["latency.svg"] = []byte(rep.SVG())
	}
	if len(rep.WS) > 0 {
		files["ws.svg"] = []byte(rep.WSSVG())
	}
	if len(rep.H3) > 0 {
		files["h3.svg"] = []byte(rep.H3SVG())
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "flipd-bench:", err)
	os.Exit(1)
}
