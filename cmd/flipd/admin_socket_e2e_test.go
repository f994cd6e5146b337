//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// unixAPI sends one request to the admin API on the unix socket path (an
// abstract one if it starts with "@"), with the given extra header pairs.
func unixAPI(t *testing.T, path, method, urlPath, body string, header ...string) apiAnswer {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(method, "http://localhost"+urlPath, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, urlPath, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := apiAnswer{status: resp.StatusCode, raw: string(b)}
	json.Unmarshal(b, &a.body)
	return a
}

// statusBody is what the tests read of GET /status.
type statusBody struct {
	SupervisorPID int                `json:"supervisor_pid"`
	Generations   []generationStatus `json:"generations"`
}

// generationStatus is one generation in GET /status.
type generationStatus struct {
	Generation int    `json:"generation"`
	Pid        int    `json:"pid"`
	State      string `json:"state"`
}

// answering is the generation that answered a GET /status.
func answering(a apiAnswer) (g generationStatus) {
	var body statusBody
	if json.Unmarshal([]byte(a.raw), &body) == nil && len(body.Generations) > 0 {
		g = body.Generations[0]
	}
	return g
}

// runFlipdFails runs "flipd run" on config and wants it to exit with an
// error; it returns what flipd printed.
func runFlipdFails(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "flipd.json")
	if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, flipdBin, "run", "--config", file, "--pidfile", filepath.Join(dir, "flipd.pid"))
	cmd.Dir = dir
	cmd.Env = flipdEnv(dir)
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("flipd run did not fail at once (%v):\n%s", err, out)
	}
	return string(out)
}

func TestAdminAbstractSocketWithoutTokenIsRefused(t *testing.T) {
	name := fmt.Sprintf("@flipd-e2e-%d", os.Getpid())
	addr := freeAddr(t)
	out := runFlipdFails(t, adminConfig("unix/"+name, addr, "x"))
	if !strings.Contains(out, "admin.listen") || !strings.Contains(out, "admin.token") {
		t.Fatalf("flipd run with an abstract admin socket and no token: the error names neither admin.listen nor admin.token:\n%s", out)
	}

	// Loaded through the API, the same config is refused before any
	// process starts.
	admin := freeAddr(t)
	startFlipd(t, adminConfig(admin, addr, "one"))
	a := api(t, "POST", "http://"+admin+"/load", adminConfig("unix/"+name, addr, "two"))
	if a.status != 400 || a.body["field"] != "admin.listen" || !strings.Contains(a.raw, "admin.token") {
		t.Fatalf("POST /load of an abstract admin socket without a token: %d %s; want 400 naming admin.listen and admin.token", a.status, a.raw)
	}
}

func TestAdminAbstractSocketWithTokenServesAndCreatesNoFile(t *testing.T) {
	name := fmt.Sprintf("@flipd-e2e-token-%d", os.Getpid())
	addr := freeAddr(t)
	config := strings.Replace(adminConfig("unix/"+name, addr, "one"), `"admin": {`, `"admin": {"token": "s3cret", `, 1)
	cwd := t.TempDir()
	d := launch(t, config, launchOptions{cwd: cwd})

	if a := unixAPI(t, name, "GET", "/status", ""); a.status != 401 {
		t.Fatalf("GET /status on the abstract socket without the token: %d %s, want 401", a.status, a.raw)
	}
	auth := []string{"Authorization", "Bearer s3cret"}
	if a := unixAPI(t, name, "GET", "/status", "", auth...); a.status != 200 || answering(a).Generation != 1 {
		t.Fatalf("GET /status on the abstract socket with the token: %d %s", a.status, a.raw)
	}
	d.reload(strings.Replace(config, `"one"`, `"two"`, 1))
	waitAnswer(t, "http://"+addr+"/", "two")
	if a := unixAPI(t, name, "GET", "/status", "", auth...); a.status != 200 || answering(a).Generation != 2 {
		t.Fatalf("GET /status on the abstract socket after a reload: %d %s", a.status, a.raw)
	}
	entries, _ := os.ReadDir(cwd)
	for _, e := range entries {
		t.Errorf("flipd created %q in its working directory", e.Name())
	}
}

func TestAdminSocketReplacedBySymlinkLeavesTheTargetAlone(t *testing.T) {
	dir := t.TempDir()
	sock, target := filepath.Join(dir, "admin.sock"), filepath.Join(dir, "target")
	addr := freeAddr(t)
	config := adminConfig(sock, addr, "one")
	d := startFlipd(t, config)
	if err := os.WriteFile(target, []byte("not flipd's"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The listening socket lives on without its file, and passes to the
	// next generation: only the name now points elsewhere.
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, sock); err != nil {
		t.Fatal(err)
	}
	d.reload(strings.Replace(config, `"one"`, `"two"`, 1))
	waitAnswer(t, "http://"+addr+"/", "two")
	fi, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Fatalf("the symlink's target has mode %v after a reload, want it left at 0644", fi.Mode().Perm())
	}
}

func TestAdminSocketModeSetByTheOperatorSurvivesReloads(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	addr := freeAddr(t)
	config := adminConfig(sock, addr, "one")
	d := startFlipd(t, config)
	fi, err := os.Lstat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("admin socket %s: %v, mode %v; want a socket with mode 0600", sock, err, fi.Mode())
	}
	// An operator lets a group in; an inherited socket is never
	// chmodded again.
	if err := os.Chmod(sock, 0o660); err != nil {
		t.Fatal(err)
	}
	d.reload(strings.Replace(config, `"one"`, `"two"`, 1))
	waitAnswer(t, "http://"+addr+"/", "two")
	if fi, err := os.Lstat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("admin socket after a reload: %v, mode %v; want the operator's 0660 kept", err, fi.Mode())
	}
}

func TestAdminSocketLeftByKill9IsRemovedAtTheNextStart(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	addr := freeAddr(t)
	d := startFlipd(t, adminConfig(sock, addr, "one"))
	d.kill() // SIGKILL: the socket file stays, nothing listens on it
	if fi, err := os.Lstat(sock); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("after kill -9 the socket file should remain: %v %v", err, fi)
	}

	d2 := startFlipd(t, adminConfig(sock, addr, "two"))
	waitAnswer(t, "http://"+addr+"/", "two")
	if a := unixAPI(t, sock, "GET", "/status", ""); a.status != 200 {
		t.Fatalf("GET /status on the admin socket after restarting: %d %s", a.status, a.raw)
	}
	if log := d2.log(); !strings.Contains(log, "stale") || !strings.Contains(log, sock) {
		t.Fatalf("the restart did not log that it removed the stale socket %s:\n%s", sock, log)
	}

	// A flipd that answers on the socket is never pushed aside.
	out := runFlipdFails(t, adminConfig(sock, freeAddr(t), "three"))
	if !strings.Contains(out, "another flipd is serving on "+sock) {
		t.Fatalf("a second flipd on a live admin socket did not say another one serves:\n%s", out)
	}
	if a := unixAPI(t, sock, "GET", "/status", ""); a.status != 200 || answering(a).Pid != d2.pid() {
		t.Fatalf("the first flipd no longer answers on its socket: %d %s", a.status, a.raw)
	}
}

func TestAdminPathThatIsNotASocketIsNeverRemoved(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		make func(path string) error
	}{
		{"a regular file", func(p string) error { return os.WriteFile(p, []byte("keep me"), 0o644) }},
		{"a symlink to a stale socket", func(p string) error {
			stale := filepath.Join(dir, "stale.sock")
			if err := staleSocket(stale); err != nil {
				return err
			}
			return os.Symlink(stale, p)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "admin.sock")
			if err := tc.make(path); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Lstat(path)
			out := runFlipdFails(t, adminConfig(path, freeAddr(t), "x"))
			if !strings.Contains(out, "not a socket") {
				t.Fatalf("flipd run on %s did not say it is not a socket:\n%s", tc.name, out)
			}
			after, err := os.Lstat(path)
			if err != nil || !os.SameFile(before, after) {
				t.Fatalf("flipd removed or replaced %s: %v", tc.name, err)
			}
		})
	}
}

// staleSocket leaves a unix socket file at path that nothing listens on,
// as a killed process does.
func staleSocket(path string) error {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return err
	}
	ln.SetUnlinkOnClose(false)
	return ln.Close()
}
