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
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// adminConfig serves body on addr, with the admin API on admin.
func adminConfig(admin, addr, body string) string {
	return fmt.Sprintf(`{"admin": {"listen": %q}, "upgrade": {"drain_timeout": "10s"}, "listeners": {
		"web": {"address": "tcp/%s", "module": "http", "routes": [
			{"match": {"path": ["/slow"]}, "handle": {"module": "reverse_proxy", "upstreams": ["%s"]}},
			{"handle": {"module": "static_response", "body": %q}}]}}}`, admin, addr, slowUpstream, body)
}

// slowUpstream answers after a while, to keep a request in flight.
var slowUpstream = func() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(1500 * time.Millisecond)
		io.WriteString(w, "slow")
	}))
	return ln.Addr().String()
}()

// getSlow starts a GET of /slow on addr; the body, or the error, arrives
// on the channel.
func getSlow(addr string) <-chan string {
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	return slow
}

type apiAnswer struct {
	status int
	body   map[string]any
	raw    string
}

func api(t *testing.T, method, url string, body string, header ...string) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: 5 * time.Second}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := apiAnswer{status: resp.StatusCode, raw: string(b)}
	json.Unmarshal(b, &a.body)
	return a
}

func TestAdminLoadSwitchesGenerations(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	d := startFlipd(t, adminConfig(admin, addr, "one"))
	// A request in flight keeps generation 1 draining for a while.
	slow := getSlow(addr)
	time.Sleep(200 * time.Millisecond)

	newConfig := adminConfig(admin, addr, "two")
	a := api(t, "POST", "http://"+admin+"/load", newConfig)
	if a.status != 200 || a.body["generation"] != 2.0 {
		t.Fatalf("POST /load: %d %s", a.status, a.raw)
	}
	waitAnswer(t, "http://"+addr+"/", "two")
	if got := api(t, "GET", "http://"+admin+"/config", ""); got.raw != newConfig {
		t.Fatalf("GET /config after the load:\n%s", got.raw)
	}
	// flipd status shows both generations while the old one drains.
	out, err := exec.Command(flipdBin, "status", "--address", admin).CombinedOutput()
	if err != nil {
		t.Fatalf("flipd status: %v\n%s", err, out)
	}
	if !regexpMatch(`(?m)^2\s+\d+\s+active`, string(out)) || !regexpMatch(`(?m)^1\s+\d+\s+draining`, string(out)) {
		t.Fatalf("flipd status does not show generation 2 active and 1 draining:\n%s", out)
	}
	if got := <-slow; got != "slow" {
		t.Fatalf("the request in flight during the load got %q; log:\n%s", got, d.log())
	}
}

func TestAdminRefusalsLeaveGenerationAndConfig(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	config := adminConfig(admin, addr, "one")
	d := startFlipd(t, config)
	base := "http://" + admin

	for _, tc := range []struct {
		name, body string
		status     int
		want       string
		header     []string
	}{
		{"malformed", `{"listeners":`, 400, "not valid JSON", nil},
		{"unknown field", strings.Replace(config, `"routes"`, `"rootes"`, 1), 400, `listeners.web: module \"http\": unknown field \"rootes\"`, nil},
		{"port taken", adminConfig(admin, taken.Addr().String(), "x"), 422, "address already in use", nil},
		{"cross-origin", config, 403, "origin", []string{"Origin", "http://evil.example"}},
		{"rebinding host", config, 403, "host", []string{"Host", "evil.example:" + strings.Split(admin, ":")[1]}},
		{"wrong content type", config, 415, "application/json", []string{"Content-Type", "text/plain"}},
		// As curl does for large bodies: the server can refuse before
		// the body is sent.
		{"10 MB body", `{"x": "` + strings.Repeat("a", 10<<20) + `"}`, 413, "max_body_bytes", []string{"Expect", "100-continue"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := api(t, "POST", base+"/load", tc.body, tc.header...)
			if a.status != tc.status || !strings.Contains(strings.ToLower(a.raw), strings.ToLower(tc.want)) || a.body["error"] == nil {
				t.Fatalf("POST /load: %d %s; want %d with an error containing %q", a.status, a.raw, tc.status, tc.want)
			}
			requireLoadRefused(t, base, config, addr)
		})
	}
	if p := d.pid(); p != d.cmd.Process.Pid {
		t.Fatalf("pid file names %d after refusals, want generation 1's %d", p, d.cmd.Process.Pid)
	}
}

func TestAdminConcurrentLoadsNeverOverlap(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	startFlipd(t, adminConfig(admin, addr, "start"))
	var wg sync.WaitGroup
	answers := make([]apiAnswer, 10)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = api(t, "POST", "http://"+admin+"/load", adminConfig(admin, addr, fmt.Sprint("load", i)))
		}()
	}
	wg.Wait()
	gens := map[float64]bool{}
	for _, a := range answers {
		switch a.status {
		case 200:
			g := a.body["generation"].(float64)
			if gens[g] {
				t.Fatalf("two loads both claim generation %v: two re-execs at once", g)
			}
			gens[g] = true
		case 409:
		default:
			t.Fatalf("a concurrent load got %d %s", a.status, a.raw)
		}
	}
	if len(gens) == 0 {
		t.Fatal("no load succeeded")
	}
	for g := 2.0; g < 2+float64(len(gens)); g++ {
		if !gens[g] {
			t.Fatalf("successful loads made generations %v: not one after another", gens)
		}
	}
}

func TestAdminAnswersDuringUpgrades(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	startFlipd(t, adminConfig(admin, addr, "x"))
	stop := make(chan struct{})
	var failures, answers int
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for i := 0; i < 100000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := c.Get("http://" + admin + "/status")
			if err != nil {
				failures++
				t.Logf("GET /status during upgrades: %v", err)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			answers++
		}
	}()
	for i := 0; i < 5; i++ {
		if a := api(t, "POST", "http://"+admin+"/upgrade", "{}"); a.status != 200 {
			t.Fatalf("POST /upgrade: %d %s", a.status, a.raw)
		}
		time.Sleep(300 * time.Millisecond) // the drained generation exits
	}
	close(stop)
	<-done
	if failures > 0 || answers == 0 {
		t.Fatalf("%d of %d admin requests failed during upgrades", failures, answers+failures)
	}
}

func TestAdminListenMovesAndUnixSocket(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	d := startFlipd(t, adminConfig(admin, addr, "x"))
	sock := filepath.Join(t.TempDir(), "admin.sock")
	if a := api(t, "POST", "http://"+admin+"/load", adminConfig(sock, addr, "y")); a.status != 200 {
		t.Fatalf("moving the admin API: %d %s", a.status, a.raw)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("admin socket %s: %v, mode %v; want a socket with mode 0600", sock, err, fi.Mode())
	}
	out, err := exec.Command(flipdBin, "status", "--address", sock, "--json").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"generation":2`) {
		t.Fatalf("status over the unix socket: %v\n%s", err, out)
	}
	d.waitFor("the old admin address to close", func() bool {
		c, err := net.DialTimeout("tcp", admin, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command(curl, "-sS", "--max-time", "10", "--unix-socket", sock, "http://localhost/config").CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"y"`) {
			t.Fatalf("curl --unix-socket: %v\n%s", err, out)
		}
	}
}

func TestCLIReloadStatusStopAndResume(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	d := startFlipd(t, adminConfig(admin, addr, "one"))
	newFile := filepath.Join(d.dir, "two.json")
	os.WriteFile(newFile, []byte(adminConfig(admin, addr, "two")), 0o644)

	out, err := exec.Command(flipdBin, "reload", "--config", newFile).CombinedOutput()
	if err != nil {
		t.Fatalf("flipd reload: %v\n%s", err, out)
	}
	for _, want := range []string{"config is valid; starting generation 2", "generation 2 started (pid ", "generation 2 is ready", "generation 2 serves"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("flipd reload did not say %q:\n%s", want, out)
		}
	}
	waitAnswer(t, "http://"+addr+"/", "two")

	bad := filepath.Join(d.dir, "bad.json")
	os.WriteFile(bad, []byte(strings.Replace(adminConfig(admin, addr, "x"), "reverse_proxy", "revers_proxy", 1)), 0o644)
	out, err = exec.Command(flipdBin, "reload", "--config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown module \"revers_proxy\"`) && !strings.Contains(string(out), `unknown module "revers_proxy"`) {
		t.Fatalf("flipd reload with a bad config: %v\n%s", err, out)
	}

	if out, err := exec.Command(flipdBin, "stop", "--address", admin).CombinedOutput(); err != nil {
		t.Fatalf("flipd stop: %v\n%s", err, out)
	}
	d.waitFor("flipd to stop", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	for pid := range d.pids {
		d.waitExit(pid)
	}

	// --resume starts from the config the API loaded, not the file.
	resumed := &daemon{t: t, dir: d.dir, config: d.config, pidFile: d.pidFile, logFile: d.logFile, pids: map[int]bool{}}
	resumed.cmd = exec.Command(flipdBin, "run", "--no-supervisor", "--config", d.config, "--pidfile", d.pidFile, "--resume")
	resumed.cmd.Env = d.cmd.Env
	logf, _ := os.OpenFile(d.logFile, os.O_APPEND|os.O_WRONLY, 0)
	resumed.cmd.Stdout, resumed.cmd.Stderr = logf, logf
	if err := resumed.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	resumed.pids[resumed.cmd.Process.Pid] = true
	t.Cleanup(resumed.kill)
	waitAnswer(t, "http://"+addr+"/", "two")
}

func TestAdminMetrics(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	startFlipd(t, adminConfig(admin, addr, "one"))
	if a := api(t, "POST", "http://"+admin+"/load", adminConfig(admin, addr, "two")); a.status != 200 {
		t.Fatalf("load: %d %s", a.status, a.raw)
	}
	waitAnswer(t, "http://"+addr+"/", "two")
	var m apiAnswer
	deadline := time.Now().Add(10 * time.Second)
	for {
		m = api(t, "GET", "http://"+admin+"/metrics", "")
		if strings.Contains(m.raw, "\nflipd_generation 2\n") || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{"\nflipd_generation 2\n", `flipd_upgrades_total{result="ok"} 1`, "flipd_upgrade_duration_seconds_count 1", "flipd_live_generations", "flipd_open_connections"} {
		if !strings.Contains(m.raw, want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, m.raw)
		}
	}
}

// requireLoadRefused fails t unless the admin API at base still has config
// and generation 1 still answers "one" on addr.
func requireLoadRefused(t *testing.T, base, config, addr string) {
	t.Helper()
	if got := api(t, "GET", base+"/config", ""); got.raw != config {
		t.Fatalf("the config changed after a refused load:\n%s", got.raw)
	}
	if got := get(t, "http://"+addr+"/"); got != "one" {
		t.Fatalf("generation 1 answered %q after a refused load", got)
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
