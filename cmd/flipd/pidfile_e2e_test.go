//go:build linux

package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A PID file that cannot be written (its directory removed) does not
// fail a reload: the new generation serves, logs the error naming the
// file, and says so in GET /status; no request fails meanwhile.
func TestReloadServesWhenThePIDFileCannotBeWritten(t *testing.T) {
	admin, addr := freeAddr(t), freeAddr(t)
	run := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(run, 0o755); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(run, "flipd.pid")
	config := func(body string) string {
		return strings.Replace(adminConfig(admin, addr, body), `"drain_timeout"`, `"timeout": "5s", "drain_timeout"`, 1)
	}
	d := startFlipd(t, config("one"), "--pidfile", pidFile)
	if err := os.RemoveAll(run); err != nil {
		t.Fatal(err)
	}

	var ok, failed atomic.Int64
	var errMu sync.Mutex
	var errs []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: i%2 == 0}}
			for n := 0; n < 100000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Post("http://"+addr+"/", "text/plain", strings.NewReader("x"))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				if err != nil {
					failed.Add(1)
					errMu.Lock()
					errs = append(errs, err.Error())
					errMu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	a := api(t, "POST", "http://"+admin+"/load", config("two"))
	waitAnswer(t, "http://"+addr+"/", "two")
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if a.status != 200 || a.body["generation"] != 2.0 {
		t.Fatalf("POST /load with the PID file's directory gone: %d %s; log:\n%s", a.status, a.raw, d.log())
	}
	if failed.Load() > 0 || ok.Load() == 0 {
		t.Fatalf("%d of %d requests failed during the reload: %v", failed.Load(), ok.Load()+failed.Load(), errs)
	}
	if !strings.Contains(d.log(), "writing the PID file failed") || !strings.Contains(d.log(), pidFile) {
		t.Fatalf("the log does not name the PID file that could not be written:\n%s", d.log())
	}
	st := api(t, "GET", "http://"+admin+"/status", "")
	if !strings.Contains(st.raw, `"pid_file_error":`) || !strings.Contains(st.raw, pidFile) {
		t.Fatalf("GET /status does not say the PID file failed: %s", st.raw)
	}
}

// A final stop removes the PID file that names the generation stopping.
func TestFinalStopRemovesThePIDFile(t *testing.T) {
	addr := freeAddr(t)
	d := startFlipd(t, staticConfig(addr, "one"))
	newPid := d.reload(staticConfig(addr, "two"))
	syscall.Kill(newPid, syscall.SIGTERM)
	d.waitExit(newPid)
	if _, err := os.Stat(d.pidFile); !os.IsNotExist(err) {
		b, _ := os.ReadFile(d.pidFile)
		t.Fatalf("after a final stop the PID file is still there (%v), naming %q", err, b)
	}
}
