//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The chaos tests start real flipd processes, break things around them
// (signals in every phase of an upgrade, killed parents, children that
// lie, full disks, deleted binaries) and check the same three promises
// each time: the service answered throughout, no request failed, and
// afterwards exactly one generation serves (or none, after a stop).

// startDaemon is startFlipd with a binary of the test's choosing (a copy
// the test may delete or replace) and extra environment.
func startDaemon(t *testing.T, bin, config string, env ...string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{t: t, dir: dir, config: filepath.Join(dir, "flipd.json"),
		pidFile: filepath.Join(dir, "flipd.pid"), logFile: filepath.Join(dir, "flipd.log"), pids: map[int]bool{}}
	d.writeConfig(config)
	logf, err := os.Create(d.logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	d.cmd = exec.Command(bin, "run", "--no-supervisor", "--config", d.config, "--pidfile", d.pidFile) // the chain model
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.Env = append(append(os.Environ(), "GORACE=atexit_sleep_ms=0", "XDG_DATA_HOME="+filepath.Join(dir, "data")), env...)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.pids[d.cmd.Process.Pid] = true
	t.Cleanup(d.kill)
	d.waitFor("the first generation to write its pid file", func() bool { return d.pid() == d.cmd.Process.Pid })
	return d
}

// copyBinary copies flipd into a directory of the test's own, so that the
// test can delete or replace it without touching the other tests' binary.
func copyBinary(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(flipdBin)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "flipd")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// chaosConfig serves body on web, sends /held to a held upstream, puts
// the admin API on admin and, if gate is not "", a TLS listener whose
// certificate comes through a gate (so that provisioning waits on it).
func chaosConfig(admin, web, upstream, gate string, body string) string {
	gated := ""
	if gate != "" {
		gated = fmt.Sprintf(`, "gate": {"address": "tcp/%s", "module": "http", "wrappers": [%s],
			"routes": [{"handle": {"module": "static_response", "body": "gate"}}]}`, freePort(), gate)
	}
	return fmt.Sprintf(`{"admin": {"listen": %q}, "upgrade": {"drain_timeout": "5s"}, "listeners": {
		"web": {"address": "tcp/%s", "module": "http", "routes": [
			{"match": {"path": ["/held"]}, "handle": {"module": "reverse_proxy", "upstreams": [%q]}},
			{"handle": {"module": "static_response", "body": %q}}]}%s}}`, admin, web, upstream, body, gated)
}

// freePort is freeAddr without a test to fail.
func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// heldUpstream answers /held only when the test releases it, so that a
// request stays in flight exactly as long as a case needs.
type heldUpstream struct {
	addr    string
	arrived chan struct{}
	release chan struct{}
}

func startHeldUpstream(t *testing.T) *heldUpstream {
	t.Helper()
	h := &heldUpstream{arrived: make(chan struct{}, 16), release: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.arrived <- struct{}{}
		select {
		case <-h.release:
		case <-time.After(30 * time.Second):
		}
		io.WriteString(w, "held")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	h.addr = ln.Addr().String()
	return h
}

// inFlight starts a request to /held on web and waits until the upstream
// has it; the result ("200 held", or the error) arrives on the channel
// once the test releases the upstream.
func (h *heldUpstream) inFlight(t *testing.T, web string) <-chan string {
	t.Helper()
	result := make(chan string, 1)
	go func() {
		c := &http.Client{Timeout: 40 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + web + "/held")
		if err != nil {
			result <- err.Error()
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			result <- err.Error()
			return
		}
		result <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	select {
	case <-h.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the held request did not reach the upstream")
	}
	return result
}

// loadLoop sends POSTs (which no client retries, so nothing hides a drop)
// from clients that keep their connection alive and from clients that
// open one per request, and counts every failure with its error.
type loadLoop struct {
	stop   chan struct{}
	wg     sync.WaitGroup
	ok     atomic.Int64
	mu     sync.Mutex
	errs   map[string]int
	failed int
}

func startLoad(url string, clients int) *loadLoop {
	l := &loadLoop{stop: make(chan struct{}), errs: map[string]int{}}
	for i := 0; i < clients; i++ {
		l.wg.Add(1)
		go l.client(url, i%2 == 0)
	}
	return l
}

func (l *loadLoop) client(url string, keepAlive bool) {
	defer l.wg.Done()
	tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	for i := 0; i < 1_000_000; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		resp, err := c.Post(url, "text/plain", strings.NewReader("payload"))
		if err != nil {
			l.fail(err.Error())
			continue
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			l.fail(err.Error())
		case resp.StatusCode != 200:
			l.fail(resp.Status)
		default:
			l.ok.Add(1)
		}
		time.Sleep(2 * time.Millisecond) // leave the 2 cores to flipd
	}
}

func (l *loadLoop) fail(err string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed++
	l.errs[time.Now().Format("15:04:05.000")+" "+err]++
}

// finish stops the clients, waits for the requests in flight, and fails
// the test if any request failed or none was answered.
func (l *loadLoop) finish(t *testing.T, d *daemon) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("%d requests answered, %d failed", l.ok.Load(), l.failed)
	if l.failed > 0 || l.ok.Load() == 0 {
		errs := make([]string, 0, len(l.errs))
		for e, n := range l.errs {
			errs = append(errs, fmt.Sprintf("%dx %s", n, e))
		}
		sort.Strings(errs)
		if len(errs) > 20 {
			errs = append(errs[:20], "...")
		}
		t.Errorf("%d of %d requests failed:\n  %s\nlog:\n%s", l.failed, l.ok.Load()+int64(l.failed),
			strings.Join(errs, "\n  "), d.log())
	}
}

// failures counts the requests that failed so far.
func (l *loadLoop) failures() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// end stops the clients and counts, for a case where failures are
// expected (nothing serves) and checked by other means.
func (l *loadLoop) end() (ok int64, failed int) {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok.Load(), l.failed
}

// alive lists the live (not zombie) processes running this daemon's
// config: every generation, serving, starting or draining.
func (d *daemon) alive() []int {
	var pids []int
	for _, pid := range processesWith(d.config) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The state follows the command name in parentheses.
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue
		}
		d.pids[pid] = true
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	return pids
}

// statusBody is the part of GET /status the chaos tests read.
type statusBody struct {
	Generations []struct {
		Generation int    `json:"generation"`
		Pid        int    `json:"pid"`
		State      string `json:"state"`
	} `json:"generations"`
}

// oneGenerationServes waits until exactly one flipd process is alive, and
// checks that it is the one the pid file names, that GET /status lists it
// alone as active, and that it answers want on web.
func (d *daemon) oneGenerationServes(admin, web, want string) int {
	d.t.Helper()
	d.waitFor("exactly one generation to be alive", func() bool { return len(d.alive()) == 1 })
	pid := d.alive()[0]
	if p := d.pid(); p != pid {
		d.t.Fatalf("the pid file names %d, but the process alive is %d; log:\n%s", p, pid, d.log())
	}
	// The serving generation learns that an older one exited from a
	// pipe, a moment after /proc does.
	var last string
	d.waitFor("GET /status to list one generation", func() bool {
		a := api(d.t, "GET", "http://"+admin+"/status", "")
		var st statusBody
		last = a.raw
		return a.status == 200 && json.Unmarshal([]byte(a.raw), &st) == nil &&
			len(st.Generations) == 1 && st.Generations[0].Pid == pid && st.Generations[0].State == "active"
	})
	if len(d.alive()) != 1 {
		d.t.Fatalf("pids %v alive; GET /status said %s", d.alive(), last)
	}
	waitAnswer(d.t, "http://"+web+"/", want)
	return pid
}

// allExit waits until no process of this daemon is alive, and fails the
// test unless each one whose status the test can see (the first, and any
// reparented to the test, a subreaper) exited with status 0.
func (d *daemon) allExit() {
	d.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	statuses := map[int]string{}
	for {
		for pid := range d.pids {
			if _, seen := statuses[pid]; !seen {
				if st, gone := exitStatus(pid, d.cmd); gone {
					statuses[pid] = st
				}
			}
		}
		left := d.alive()
		if len(left) == 0 && len(statuses) == len(d.pids) {
			break
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("processes still alive after the stop: %v (exited: %v); log:\n%s", left, statuses, d.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for pid, st := range statuses {
		if st != "exit status 0" && st != "reaped elsewhere" {
			d.t.Errorf("pid %d: %s, want exit status 0; log:\n%s", pid, st, d.log())
		}
	}
}

// exitStatus reaps pid if the test can, and says how it ended; gone is
// false while it runs.
func exitStatus(pid int, first *exec.Cmd) (status string, gone bool) {
	if pid == first.Process.Pid && first.ProcessState != nil {
		if first.ProcessState.Pid() == 0 { // reaped by reaped(), status unknown
			return "reaped elsewhere", true
		}
		return first.ProcessState.String(), true
	}
	var ws syscall.WaitStatus
	got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	switch {
	case got == pid:
		if pid == first.Process.Pid {
			first.Process.Release()
			first.ProcessState = &os.ProcessState{}
		}
		if ws.Exited() {
			return "exit status " + strconv.Itoa(ws.ExitStatus()), true
		}
		return "killed by " + ws.Signal().String(), true
	case err == syscall.ECHILD && syscall.Kill(pid, 0) == syscall.ESRCH:
		return "reaped elsewhere", true // by the generation that started it
	}
	return "", false
}

// signalGroup sends sig to every process of the daemon, as a terminal's
// Ctrl-C does to a foreground process group.
func (d *daemon) signalGroup(sig syscall.Signal) {
	for _, pid := range d.alive() {
		syscall.Kill(pid, sig)
	}
}
