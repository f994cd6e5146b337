//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// delayConfig serves body on addr with a "health" route on /ready, the
// admin API on admin, and upgrade.shutdown_delay delay.
func delayConfig(admin, addr, delay, body string) string {
	return fmt.Sprintf(`{"admin": {"listen": %q}, "upgrade": {"drain_timeout": "10s", "shutdown_delay": %q}, "listeners": {
		"web": {"address": "tcp/%s", "module": "http", "routes": [
			{"match": {"path": ["/ready"]}, "handle": {"module": "health"}},
			{"handle": {"module": "static_response", "body": %q}}]}}}`, admin, delay, addr, body)
}

// probe sends GET url on a new connection, as a kubelet's probe does,
// and returns the status and the trimmed body (the error as the body, and
// status 0, if there is no answer).
func probe(url string) (int, string) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// waitProbe polls url until it answers status and body.
func (d *daemon) waitProbe(url string, status int, body string) {
	d.t.Helper()
	var gotStatus int
	var gotBody string
	d.waitFor(fmt.Sprintf("%s to answer %d %s", url, status, body), func() bool {
		gotStatus, gotBody = probe(url)
		return gotStatus == status && gotBody == body
	})
}

// A SIGTERM with a shutdown delay: readiness answers 503 "stopping" at
// once while every other route still answers, a reload and a second stop
// meanwhile do not end the delay early, and after it the process drains
// and exits 0. (The delay is 2s rather than 1s so that a loaded machine
// still gets its requests in within it.)
func TestSIGTERMWithAShutdownDelayServesOnWhileReadinessAnswersStopping(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	d := startFlipd(t, delayConfig(admin, addr, "2s", "one"))
	ready := "http://" + addr + "/ready"
	if status, body := probe(ready); status != 200 || body != `{"status":"ready","generation":1}` {
		t.Fatalf("GET /ready while serving: %d %s", status, body)
	}
	if a := api(t, "GET", "http://"+admin+"/ready", ""); a.status != 200 || a.body["status"] != "ready" {
		t.Fatalf("admin GET /ready while serving: %d %s", a.status, a.raw)
	}
	signalPid(t, d.pid(), syscall.SIGTERM)
	d.waitProbe(ready, 503, `{"status":"stopping","generation":1}`)
	if got := get(t, "http://"+addr+"/"); got != "one" {
		t.Fatalf("an ordinary route during the shutdown delay answered %q, want one", got)
	}
	if a := api(t, "GET", "http://"+admin+"/ready", ""); a.status != 503 || a.body["status"] != "stopping" {
		t.Errorf("admin GET /ready during the shutdown delay: %d %s", a.status, a.raw)
	}
	if a := api(t, "POST", "http://"+admin+"/load", delayConfig(admin, addr, "2s", "two")); a.status != 409 || !strings.Contains(a.raw, "stopping") {
		t.Errorf("POST /load during the shutdown delay: %d %s, want 409 saying the generation stops", a.status, a.raw)
	}
	if a := api(t, "POST", "http://"+admin+"/stop", ""); a.status != 202 {
		t.Errorf("POST /stop during the shutdown delay: %d %s, want 202", a.status, a.raw)
	}
	if got := get(t, "http://"+addr+"/"); got != "one" {
		t.Fatalf("after the refused reload and a second stop, GET / answered %q, want one", got)
	}
	d.waitAllGone(addr)
	log := d.log()
	for _, want := range []string{"stopping in 2s: readiness answers 503 meanwhile", "reload refused: this generation is stopping", "drained"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}

// A second SIGINT during the shutdown delay (Ctrl-C twice) stops at once:
// with a delay of a minute, flipd exits long before it ends.
func TestASecondSIGINTDuringTheShutdownDelayStopsAtOnce(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	d := startFlipd(t, delayConfig(admin, addr, "1m", "one"))
	signalPid(t, d.pid(), syscall.SIGINT)
	// Seen in the log, not by a probe: a connection still open at the
	// second SIGINT is cut, and flipd then rightly exits 1.
	d.waitFor("the shutdown delay to start", func() bool { return strings.Contains(d.log(), "stopping in 1m0s") })
	signalPid(t, d.pid(), syscall.SIGINT)
	d.waitAllGone(addr) // within 30s: the delay did not run out
}

// A SIGHUP during the shutdown delay is refused with a log line, and the
// stop goes on.
func TestSIGHUPDuringTheShutdownDelayIsRefused(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	d := startFlipd(t, delayConfig(admin, addr, "2s", "one"))
	pid := d.pid()
	signalPid(t, pid, syscall.SIGTERM)
	d.waitProbe("http://"+addr+"/ready", 503, `{"status":"stopping","generation":1}`)
	d.writeConfig(delayConfig(admin, addr, "2s", "two"))
	signalPid(t, pid, syscall.SIGHUP)
	d.waitFor("the reload to be refused", func() bool {
		return strings.Contains(d.log(), "reload refused: this generation is stopping")
	})
	d.waitAllGone(addr)
	if strings.Contains(d.log(), "generation=2") || strings.Contains(d.log(), `"generation":2`) {
		t.Fatalf("a generation 2 ran after a SIGHUP during the shutdown delay:\n%s", d.log())
	}
}

// During a reload, probes on new connections (a kubelet opens one per
// probe) never see the service unready: they reach the generation that
// serves, and the new one answers 200 at once. A probe on a keep-alive
// connection gets 200 too, never a 503: from the old generation
// ("handed_over") while the connection still reaches it, or from the new
// one once the connection moved there (connection handover).
func TestReadinessStaysReadyThroughAReload(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	d := startFlipd(t, delayConfig(admin, addr, "5s", "one"))
	ready := "http://" + addr + "/ready"

	old, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldReader := bufio.NewReader(old)
	if status, body := rawGet(t, old, oldReader, addr); status != 200 || body != `{"status":"ready","generation":1}` {
		t.Fatalf("GET /ready on a keep-alive connection: %d %s", status, body)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	probes := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			status, body := probe(ready)
			mu.Lock()
			probes++
			if status != 200 {
				bad = append(bad, fmt.Sprintf("%d %s", status, body))
			}
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	d.reload(delayConfig(admin, addr, "5s", "two"))
	// The keep-alive connection was idle: it moves to the new generation,
	// or, if the old one still has it, is answered there.
	status, body := rawGet(t, old, oldReader, addr)
	t.Logf("GET /ready on the old generation's keep-alive connection after the reload: %d %s", status, body)
	if status != 0 && (status != 200 || (body != `{"status":"handed_over","generation":1}` && body != `{"status":"ready","generation":1}` && body != `{"status":"ready","generation":2}`)) {
		t.Errorf("GET /ready on the old generation's keep-alive connection after the reload: %d %s, want 200", status, body)
	}
	waitAnswer(t, "http://"+addr+"/", "two")
	d.waitProbe(ready, 200, `{"status":"ready","generation":2}`)
	close(stop)
	wg.Wait()
	t.Logf("%d probes on new connections during the reload", probes)
	if len(bad) > 0 {
		t.Fatalf("%d of %d probes during the reload were not 200: %v", len(bad), probes, bad)
	}
}

// rawGet sends GET /ready on c and reads the answer; status 0 if the
// connection was closed (the old generation closed it after its drain
// grace: nothing to check then).
func rawGet(t *testing.T, c net.Conn, r *bufio.Reader, host string) (int, string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET /ready HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
		return 0, err.Error()
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}
