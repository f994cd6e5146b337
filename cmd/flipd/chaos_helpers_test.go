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
	"syscall"
	"testing"
	"time"
)

// The chaos tests start real flipd processes, break things around them
// (signals in every phase of an upgrade, killed parents, children that
// lie, full disks, deleted binaries) and check the same three promises
// each time: the service answered throughout, no request failed, and
// afterwards exactly one generation serves (or none, after a stop).

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

// replaceFile puts content, executable, in path's place at once, as an
// upgrade of the binary does.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".new", []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
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

// alive lists the live (not zombie) processes running this daemon's
// config: every generation, serving, starting or draining.
func (d *daemon) alive() []int {
	pids := liveProcessesWith(d.config)
	for _, pid := range pids {
		d.pids[pid] = true
	}
	sort.Ints(pids)
	return pids
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
