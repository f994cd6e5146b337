//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestRunServesAndReloadsOnSIGHUP(t *testing.T) {
	addr := freeAddr(t)
	d := startFlipd(t, staticConfig(addr, "one"))
	if got := get(t, "http://"+addr+"/"); got != "one" {
		t.Fatalf("generation 1 answered %q", got)
	}
	old := d.pid()
	d.reload(staticConfig(addr, "two"))
	waitAnswer(t, "http://"+addr+"/", "two")
	d.waitExit(old)
	if !strings.Contains(d.log(), `"generation":2`) && !strings.Contains(d.log(), "generation=2") {
		t.Fatalf("the log does not show generation 2:\n%s", d.log())
	}
}

// waitAnswer polls url until it answers want: the old generation may
// accept a last connection just before it hears the new one is ready.
func waitAnswer(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		var got string
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got = strings.TrimSpace(string(b))
		} else {
			got = err.Error() // not up yet, say; keep asking
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answers %q, want %q", url, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBadConfigIsRefusedAndOldGenerationServes(t *testing.T) {
	addr := freeAddr(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0") // another program's port
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	d := startFlipd(t, staticConfig(addr, "one"))

	cases := []struct{ name, config, want string }{
		{"malformed JSON", `{"listeners": {`, "invalid JSON"},
		{"unknown module", strings.Replace(staticConfig(addr, "x"), `"module": "http"`, `"module": "htp"`, 1), `unknown module \"htp\"`},
		{"unknown field", strings.Replace(staticConfig(addr, "x"), `"routes"`, `"rootes"`, 1), `unknown field \"rootes\"`},
		{"bad address", staticConfig("127.0.0.1", "x"), "missing port"},
		{"port taken", staticConfig(taken.Addr().String(), "x"), "address already in use"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d.t = t
			logged := d.reloadFails(tc.config)
			if !strings.Contains(logged, tc.want) {
				t.Fatalf("the failed reload's log does not say %q:\n%s", tc.want, logged)
			}
			if got := get(t, "http://"+addr+"/"); got != "one" {
				t.Fatalf("after the refused config the answer is %q", got)
			}
		})
	}
}

// listenInode finds the inode of the socket listening on addr, as the
// kernel lists it: the same inode means the same socket.
func listenInode(t *testing.T, addr string) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	var p int
	fmt.Sscan(port, &p)
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Skip("needs /proc/net/tcp")
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		// local_address is hex "0100007F:1F90"; state 0A is LISTEN.
		if len(fields) > 9 && strings.HasSuffix(fields[1], fmt.Sprintf(":%04X", p)) && fields[3] == "0A" {
			return fields[9]
		}
	}
	return ""
}

func TestRenameKeepsSocketReaddressOpensNew(t *testing.T) {
	addr, addr2 := freeAddr(t), freeAddr(t)
	d := startFlipd(t, staticConfig(addr, "one"))
	inode := listenInode(t, addr)
	if inode == "" {
		t.Fatal("no listening socket found")
	}

	renamed := strings.Replace(staticConfig(addr, "renamed"), `"web"`, `"site"`, 1)
	old := d.reload(renamed)
	waitAnswer(t, "http://"+addr+"/", "renamed")
	if got := listenInode(t, addr); got != inode {
		t.Fatalf("renaming the listener replaced its socket (inode %s, was %s)", got, inode)
	}

	d.reload(staticConfig(addr2, "moved"))
	waitAnswer(t, "http://"+addr2+"/", "moved")
	d.waitExit(old)
	d.waitFor("the old address to close", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
}

func TestOpenRequestFinishesAcrossReload(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "slow answer")
	})}
	uln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go upstream.Serve(uln)
	defer upstream.Close()

	addr := freeAddr(t)
	config := func(body string) string {
		return fmt.Sprintf(`{"admin": {"disabled": true}, "listeners": {"web": {"address": "tcp/%s", "module": "http", "routes": [
			{"match": {"path": ["/slow"]}, "handle": {"module": "reverse_proxy", "upstreams": [%q]}},
			{"handle": {"module": "static_response", "body": %q}}]}}}`, addr, uln.Addr(), body)
	}
	d := startFlipd(t, config("one"))
	// One keep-alive connection, counted: after its response it moves to
	// the new generation (connection handover) instead of being closed.
	var dials atomic.Int32
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, a)
	}}}
	defer client.CloseIdleConnections()
	result := make(chan string, 1)
	go func() {
		resp, err := client.Get("http://" + addr + "/slow")
		if err != nil {
			result <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- fmt.Sprintf("%d %s close=%v", resp.StatusCode, b, resp.Close)
	}()
	<-arrived // the request is in flight through generation 1
	old := d.pid()
	d.reload(config("two"))
	waitAnswer(t, "http://"+addr+"/", "two")
	if reaped(old, d.cmd) {
		t.Fatal("the old generation exited with a request in flight")
	}
	close(release)
	// The response is not asked to close the connection: once idle, the
	// connection moves to generation 2, which answers its next requests.
	if got := <-result; got != "200 slow answer close=false" {
		t.Fatalf("the request open across the reload got %q", got)
	}
	get := func() string {
		t.Helper()
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("the next request on the connection: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	// A request the client sends at once may beat the move: net/http's
	// background read of the slow request (one byte, pending until
	// after the response is flushed) can take its first byte, and then
	// generation 1 answers it, keeps the connection open and moves it
	// once idle again. Either way, it is the same connection.
	if got := get(); (got != "one" && got != "two") || dials.Load() != 1 {
		t.Fatalf("the next request on the connection got %q over %d connections, want an answer over the same one", got, dials.Load())
	}
	d.waitExit(old)
	if got := get(); got != "two" || dials.Load() != 1 {
		t.Fatalf("after the old generation exited, the connection got %q over %d connections, want \"two\" from the new generation over the same one", got, dials.Load())
	}
}

func TestTCPEchoConnectionSurvivesReload(t *testing.T) {
	addr, web := freeAddr(t), freeAddr(t)
	config := func(body string) string {
		return fmt.Sprintf(`{"admin": {"disabled": true}, "listeners": {
			"echo": {"address": "tcp/%s", "module": "tcp", "handle": {"module": "echo"}},
			"web": {"address": "tcp/%s", "module": "http", "routes": [{"handle": {"module": "static_response", "body": %q}}]}}}`, addr, web, body)
	}
	d := startFlipd(t, config("one"))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	echo := func(s string) {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintln(c, s)
		line, err := r.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != s {
			t.Fatalf("echo %q: %q, %v", s, line, err)
		}
	}
	echo("before")
	old := d.pid()
	d.reload(config("two"))
	waitAnswer(t, "http://"+web+"/", "two")
	echo("after")
	c.Close()
	d.waitExit(old)
}

func TestReloadLoopUnderLoadDropsNothing(t *testing.T) {
	addr := freeAddr(t)
	d := startFlipd(t, staticConfig(addr, "gen"))
	url := "http://" + addr + "/"

	load := startLoadWith(url, loadOptions{keepAlive: 8, fresh: 8, timeout: 10 * time.Second, requests: 100000})
	pids := []int{d.pid()}
	for i := 0; i < 20; i++ {
		// Keep within max_draining: wait for the generation before last.
		if len(pids) >= 2 {
			d.waitExit(pids[len(pids)-2])
		}
		pids = append(pids, d.reload(staticConfig(addr, fmt.Sprintf("gen%d", i))))
	}
	time.Sleep(200 * time.Millisecond)
	ok, failed := load.end()
	for _, pid := range pids[:len(pids)-1] {
		d.waitExit(pid)
	}
	t.Logf("%d requests, %d failed, over 20 reloads", ok, failed)
	if failed > 0 || ok == 0 {
		t.Fatalf("%d of %d requests failed:\n%s", failed, ok+int64(failed), load.errors())
	}
}

func TestStopDrainsAndExits(t *testing.T) {
	addr := freeAddr(t)
	d := startFlipd(t, staticConfig(addr, "one"))
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.waitStopped(20 * time.Second)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("still listening after stop")
	}
}

func TestValidateAndListModules(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(good, []byte(staticConfig("127.0.0.1:1", "x")), 0o644)
	os.WriteFile(bad, []byte(strings.Replace(staticConfig("127.0.0.1:1", "x"), "static_response", "static_respons", 1)), 0o644)

	out, err := exec.Command(flipdBin, "validate", "--config", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "valid") {
		t.Fatalf("validate good: %v\n%s", err, out)
	}
	out, err = exec.Command(flipdBin, "validate", "--config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown module "static_respons" in http.handlers`) {
		t.Fatalf("validate bad: %v\n%s", err, out)
	}
	out, err = exec.Command(flipdBin, "list-modules").CombinedOutput()
	for _, want := range []string{"listeners.http", "listeners.tcp", "http.handlers.static_response", "http.handlers.reverse_proxy", "http.handlers.file_server", "tcp.handlers.echo", "tcp.handlers.proxy", "listeners.udp", "udp.handlers.echo", "udp.handlers.proxy"} {
		if err != nil || !strings.Contains(string(out), want+"\n") {
			t.Fatalf("list-modules lacks %s: %v\n%s", want, err, out)
		}
	}
}

func TestHelloExampleWithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed; .ci/run installs it")
	}
	raw, err := os.ReadFile("../../examples/hello.json")
	if err != nil {
		t.Fatal(err)
	}
	// The example's addresses, moved to free ports.
	addr, echo := freeAddr(t), freeAddr(t)
	config := strings.NewReplacer("127.0.0.1:8080", addr, "127.0.0.1:7000", echo, `"listen": "127.0.0.1:2019"`, `"disabled": true`).Replace(string(raw))
	startFlipd(t, config)
	out, err := exec.Command(curl, "-sS", "--max-time", "10", "http://"+addr+"/").CombinedOutput()
	if err != nil || string(out) != "hello from flipd\n" {
		t.Fatalf("curl: %v\n%s", err, out)
	}
}
