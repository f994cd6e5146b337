//go:build linux

package quicroute_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/flipd/flipd/internal/testca"
)

// gens is a chain of helper generations sharing one UDP socket.
type gens struct {
	t      *testing.T
	ca     *testca.CA
	addr   string // the shared UDP address
	lines  chan string
	pidDir string      // every generation leaves a file named by its pid here
	pids   map[int]int // generation -> pid
	// handover records each generation's HandOver result (its HANDOVER
	// line): "true" once it no longer reads the shared socket.
	handover map[int]string
	// forwarded sums the packets the generations that exited forwarded.
	forwarded int
}

// startGens starts generation 1 with extra environment and waits until it
// serves.
func startGens(t *testing.T, env ...string) *gens {
	t.Helper()
	dir := t.TempDir()
	ca, leaf, err := testca.Loopback(dir)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	g := &gens{t: t, ca: ca, lines: make(chan string, 1024), pids: map[int]int{}, handover: map[int]string{}, pidDir: t.TempDir()}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"=1", "HELPER_ADDR=127.0.0.1:0", "HELPER_PID_DIR="+g.pidDir,
		"HELPER_CERT="+leaf.CertFile, "HELPER_KEY="+leaf.KeyFile, "GORACE=atexit_sleep_ms=0",
		"QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			g.lines <- s.Text()
		}
		close(g.lines)
	}()
	go cmd.Wait()
	t.Cleanup(g.killAll)
	g.pids[1] = cmd.Process.Pid
	g.addr = g.wait("READY 1 ")[3]
	return g
}

// wait returns the fields of the first line that starts with prefix.
func (g *gens) wait(prefix string) []string {
	g.t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-g.lines:
			if !ok {
				g.t.Fatalf("helper output ended before %q", prefix)
			}
			f := strings.Fields(line)
			if len(f) == 4 && f[0] == "READY" {
				gen, _ := strconv.Atoi(f[1])
				g.pids[gen], _ = strconv.Atoi(f[2])
			}
			if len(f) == 3 && f[0] == "HANDOVER" {
				gen, _ := strconv.Atoi(f[1])
				g.handover[gen] = f[2]
			}
			if len(f) == 4 && f[0] == "EXIT" {
				n, _ := strconv.Atoi(strings.TrimPrefix(f[3], "forwarded="))
				g.forwarded += n
			}
			if strings.HasPrefix(line, prefix) {
				return f
			}
		case <-timeout:
			g.t.Fatalf("no %q after 60s", prefix)
		}
	}
}

// pid waits until generation gen has said it is ready and returns its pid.
func (g *gens) pid(gen int) int {
	g.t.Helper()
	for g.pids[gen] == 0 {
		g.wait("READY " + strconv.Itoa(gen) + " ")
	}
	return g.pids[gen]
}

// handedOver waits until generation gen's HandOver has returned and says
// whether it handed the shared socket over (it reads it no more).
func (g *gens) handedOver(gen int) bool {
	g.t.Helper()
	for g.handover[gen] == "" {
		g.wait("HANDOVER " + strconv.Itoa(gen) + " ")
	}
	return g.handover[gen] == "true"
}

// upgrade signals generation from to upgrade and waits for its answer.
func (g *gens) upgrade(from int) string {
	g.t.Helper()
	if err := syscall.Kill(g.pids[from], syscall.SIGHUP); err != nil {
		g.t.Fatalf("signalling generation %d: %v", from, err)
	}
	for {
		f := g.wait("UPGRADE")
		if f[1] == strconv.Itoa(from) {
			return strings.Join(f, " ")
		}
	}
}

func (g *gens) killAll() {
	entries, _ := os.ReadDir(g.pidDir)
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for { // reap what came back to us
		if pid, _ := syscall.Wait4(-1, nil, syscall.WNOHANG, nil); pid <= 0 {
			return
		}
	}
}

// client is one HTTP/3 client: it keeps one QUIC connection per server
// until that connection goes away.
func (g *gens) client() *http3.Transport {
	tr := &http3.Transport{
		TLSClientConfig: &tls.Config{RootCAs: g.ca.Pool()},
		QUICConfig:      &quic.Config{MaxIdleTimeout: 3 * time.Second},
	}
	g.t.Cleanup(func() { tr.Close() })
	return tr
}

// get fetches path and returns the body ("gen=G pid=P", after dots for
// /slow).
func (g *gens) get(tr *http3.Transport, path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+g.addr+path, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimLeft(string(b), "."), err
}

func (g *gens) mustGet(tr *http3.Transport, path string) string {
	g.t.Helper()
	body, err := g.get(tr, path)
	if err != nil {
		g.t.Fatalf("GET %s: %v", path, err)
	}
	return body
}

func genOf(body string) string {
	f := strings.Fields(body)
	if len(f) == 0 {
		return ""
	}
	return strings.TrimPrefix(f[0], "gen=")
}
