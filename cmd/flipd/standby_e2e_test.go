package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// standbyConfig is runConfig with upgrade.standby on.
func standbyConfig(admin, web string, n int) string {
	return fmt.Sprintf(`{"admin": {"listen": %q}, "upgrade": {"drain_timeout": "20s", "standby": true}, "listeners": {
		"web": {"address": "tcp/%s", "module": "http", "routes": [
			{"handle": {"module": "static_response", "body": "generation=%d"}}]}}}`, admin, web, n)
}

// standbyStatus is what GET /status says of the serving generation and
// its standby.
type standbyStatus struct {
	Generations []struct {
		Pid int `json:"pid"`
	} `json:"generations"`
	Standby *struct {
		Pid  int  `json:"pid"`
		Warm bool `json:"warm"`
	} `json:"standby"`
}

func (r *flipdRun) status() standbyStatus {
	r.t.Helper()
	var st standbyStatus
	a := api(r.t, "GET", "http://"+r.admin+"/status", "")
	if a.status != 200 || json.Unmarshal([]byte(a.raw), &st) != nil || len(st.Generations) == 0 {
		r.t.Fatalf("GET /status: %d %s", a.status, a.raw)
	}
	return st
}

// warmStandby waits until the serving generation has a warm standby other
// than not, and returns its pid.
func (r *flipdRun) warmStandby(not int) int {
	r.t.Helper()
	var pid int
	r.logs().waitFor("a warm standby", func() bool {
		st := r.status()
		if st.Standby != nil && st.Standby.Warm && st.Standby.Pid != not {
			pid = st.Standby.Pid
			return true
		}
		return false
	})
	return pid
}

func TestStandbyTakesEachReloadAndNoRequestFails(t *testing.T) {
	r := startRunWith(t, standbyConfig, []string{flipdBin, "run", "--config", "CONFIG"}, nil)
	// The usual reloads under keep-alive POST load: none fails.
	r.reloadsUnderLoad()
	// Then reload by reload: the process that serves next is the
	// standby the serving generation showed before.
	prev := 0
	for i := range 3 {
		sb := r.warmStandby(prev)
		r.reloadBy(i%2 == 0)
		if got := r.status().Generations[0].Pid; got != sb {
			t.Fatalf("reload %d: pid %d serves, want the standby %d", i+1, got, sb)
		}
		prev = sb
	}
	r.stopWith(syscall.SIGTERM) // no process of this config left: nor the standby
}

func TestStandbyIsNotTakenOnceTheBinaryIsReplaced(t *testing.T) {
	bin := copyBinary(t)
	r := startRunWith(t, standbyConfig, []string{bin, "run", "--config", "CONFIG"}, nil)
	sb := r.warmStandby(0)
	// A new build at the same path (here the same one with a byte more:
	// another file, another size).
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, bin, string(append(b, 0)))
	info, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	newIno := info.Sys().(*syscall.Stat_t).Ino
	if a := api(t, "POST", "http://"+r.admin+"/upgrade", ""); a.status != 200 {
		t.Fatalf("POST /upgrade: %d %s", a.status, a.raw)
	}
	pid := r.status().Generations[0].Pid
	if pid == sb {
		t.Fatalf("POST /upgrade took the standby of the old binary (pid %d)", sb)
	}
	exe, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		t.Fatal(err)
	}
	if ino := exe.Sys().(*syscall.Stat_t).Ino; ino != newIno {
		t.Fatalf("the new generation runs inode %d, want the replaced binary's %d", ino, newIno)
	}
	r.logs().waitFor("the old standby to be gone", func() bool { return !processAlive(sb) })
	r.warmStandby(sb) // and the new generation has one of the new binary
	r.stopWith(syscall.SIGTERM)
}

func TestStandbyKilledIsReplacedAndTheReloadStillWorks(t *testing.T) {
	r := startRunWith(t, standbyConfig, []string{flipdBin, "run", "--config", "CONFIG"}, nil)
	sb := r.warmStandby(0)
	if err := syscall.Kill(sb, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r.reloadBy(false) // at once: starts a new process
	if got := r.status().Generations[0].Pid; got == sb {
		t.Fatalf("pid %d, the killed standby, serves", got)
	}
	next := r.warmStandby(sb)
	r.reloadBy(true)
	if got := r.status().Generations[0].Pid; got != next {
		t.Fatalf("pid %d serves, want the new standby %d", got, next)
	}
	r.stopWith(syscall.SIGTERM)
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	f := procStat(pid)
	return len(f) > 0 && f[0] != "Z"
}

// A config the old generation refuses while its standby provisions it is
// refused as without a standby (nothing serves it): the standby that had
// it is discarded, another stands by, and the next reload takes that one.
func TestStandbyWithAConfigTheOldGenerationRefuses(t *testing.T) {
	r := startRunWith(t, standbyConfig, []string{flipdBin, "run", "--config", "CONFIG"}, nil)
	sb := r.warmStandby(0)
	serving := r.status().Generations[0].Pid
	// Valid JSON and a known module, refused once provisioned.
	bad := fmt.Sprintf(`{"admin": {"listen": %q}, "upgrade": {"standby": true}, "listeners": {
		"web": {"address": "tcp/%s", "module": "http", "routes": [
			{"handle": {"module": "static_response", "status": 99}}]}}}`, r.admin, r.web)
	a := api(t, "POST", "http://"+r.admin+"/load", bad)
	if a.status != 400 && a.status != 422 || !strings.Contains(a.raw, "status: 99") {
		t.Fatalf("POST /load of a config that does not provision: %d %s, want it refused, naming the status", a.status, a.raw)
	}
	if got := r.status().Generations[0].Pid; got != serving {
		t.Fatalf("pid %d serves after the refusal, want %d still", got, serving)
	}
	r.logs().waitFor("the standby that had the config to be gone", func() bool { return !processAlive(sb) })
	next := r.warmStandby(sb)
	r.reloadBy(true)
	if got := r.status().Generations[0].Pid; got != next {
		t.Fatalf("pid %d serves, want the new standby %d", got, next)
	}
	r.stopWith(syscall.SIGTERM)
}
