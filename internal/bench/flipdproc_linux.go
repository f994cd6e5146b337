package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// flipdProc is one flipd daemon run the way users run it: supervised,
// "flipd supervise --pidfile F -- flipd run --config C". The supervisor
// keeps one pid for life and never serves; every generation is one of its
// descendants, and it reaps them.
//
// "flipd supervise -- flipd run" works with a flipd run that supervises
// itself or not: one that does sees FLIPD_SUPERVISOR_PID and does not put
// a second supervisor in front. The PID file is the supervisor's (it names
// its own pid), so nothing here depends on what flipd run writes.
type flipdProc struct {
	bin, dir, admin string
	env             []string // added to flipd's environment
	cmd             *exec.Cmd
	exited          chan struct{}
	// sup is the supervisor's pid; read by the sampler while a naive
	// restart replaces it.
	sup atomic.Int64
	// serving is the serving generation's pid: seen active in GET
	// /status at start, then named by each answer to a reload.
	serving int
}

func (f *flipdProc) configPath() string { return filepath.Join(f.dir, "flipd.json") }
func (f *flipdProc) pidPath() string    { return filepath.Join(f.dir, "flipd.pid") }

// supervisedCommand is how the benchmark runs flipd, for its report.
const supervisedCommand = "flipd supervise --pidfile F -- flipd run --config C"

// start runs flipd on config and returns once its first generation
// serves: GET /status answers "active" from the supervisor's child, and
// the PID file names the supervisor. If it fails, it stops what it
// started.
func (f *flipdProc) start(config string) error {
	err := f.startSupervised(config)
	if err != nil && f.exited != nil {
		f.stop(10 * time.Second)
	}
	return err
}

func (f *flipdProc) startSupervised(config string) error {
	if err := os.WriteFile(f.configPath(), []byte(config), 0o644); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(f.dir, "flipd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	os.Remove(f.pidPath())
	f.exited = nil
	f.cmd = exec.Command(f.bin, "supervise", "--pidfile", f.pidPath(), "--", f.bin, "run", "--config", f.configPath())
	f.cmd.Stdout, f.cmd.Stderr = logf, logf
	f.cmd.Env = append(append(os.Environ(), f.env...), "XDG_DATA_HOME="+filepath.Join(f.dir, "data"))
	cmd := f.cmd
	exited, err := startManaged(cmd)
	if err != nil {
		return fmt.Errorf("starting flipd: %w", err)
	}
	f.exited, f.serving = exited, 0
	sup := cmd.Process.Pid
	f.sup.Store(int64(sup))
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("flipd's supervisor exited at start: %s", f.logTail())
		default:
		}
		if st, err := f.status(); err == nil && st.State == "active" && st.Pid != sup {
			// Generation 1 is the supervisor's child: anything in
			// between (a flipd run that put a second supervisor in
			// front of itself) would be counted as a generation.
			if p, ok := readProc(st.Pid); !ok || p.PPid != sup {
				return fmt.Errorf("the first generation, pid %d, is not the supervisor's child (its parent is %d, the supervisor %d): "+
					"is a second supervisor in between?", st.Pid, p.PPid, sup)
			}
			f.serving = st.Pid
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("flipd's first generation did not serve within 30s: %s", f.logTail())
		}
		time.Sleep(2 * time.Millisecond)
	}
	if pid := f.pidFile(); pid != sup {
		return fmt.Errorf("the PID file %s names %d, not the supervisor, pid %d", f.pidPath(), pid, sup)
	}
	return nil
}

// pid is the serving generation's pid, or 0 before start.
func (f *flipdProc) pid() int { return f.serving }

// supervisor is the supervisor's pid, or 0 before start.
func (f *flipdProc) supervisor() int { return int(f.sup.Load()) }

// pidFile is the pid the PID file names, or 0.
func (f *flipdProc) pidFile() int {
	b, _ := os.ReadFile(f.pidPath())
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (f *flipdProc) logTail() string {
	b, _ := os.ReadFile(filepath.Join(f.dir, "flipd.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// generationStatus is the generation that answers GET /status.
type generationStatus struct {
	Generation int    `json:"generation"`
	Pid        int    `json:"pid"`
	State      string `json:"state"`
}

// status asks GET /status which generation answers.
func (f *flipdProc) status() (generationStatus, error) {
	resp, err := adminClient.Get("http://" + f.admin + "/status")
	if err != nil {
		return generationStatus{}, err
	}
	defer resp.Body.Close()
	var st struct {
		Generations []generationStatus `json:"generations"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || len(st.Generations) == 0 {
		return generationStatus{}, fmt.Errorf("GET /status: %s, %v", resp.Status, err)
	}
	return st.Generations[0], nil
}

// loadAnswer is what POST /load and POST /upgrade answer.
type loadAnswer struct {
	Generation int    `json:"generation"`
	Pid        int    `json:"pid"`
	Duration   string `json:"duration"`
	Draining   struct {
		Pid int `json:"pid"`
	} `json:"draining"`
	Error string `json:"error"`
}

// adminClient opens a connection per request, as flipd's CLI does.
var adminClient = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// post sends body to the admin API's path and returns its answer.
func (f *flipdProc) post(path, body string) (loadAnswer, error) {
	resp, err := adminClient.Post("http://"+f.admin+path, "application/json", strings.NewReader(body))
	if err != nil {
		return loadAnswer{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a loadAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, fmt.Errorf("POST %s: %s: %.200s", path, resp.Status, raw)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusConflict:
		return a, fmt.Errorf("POST %s: %w Conflict: %s", path, errConflict, a.Error)
	default:
		return a, fmt.Errorf("POST %s: %s: %s", path, resp.Status, a.Error)
	}
	return a, nil
}

// reload does one upgrade through the admin API: POST /load with config,
// or POST /upgrade if config is empty. A 409 is tried again, 100 times at
// most, and counted: under a saturated CPU, the generation that has just
// handed over may still accept on the admin socket and answer "already
// handed over".
func (f *flipdProc) reload(config string) Upgrade {
	u := Upgrade{At: time.Now(), OldPid: f.pid()}
	var a loadAnswer
	var err error
	for try := 0; try < 100; try++ {
		if config == "" {
			a, err = f.post("/upgrade", "{}")
		} else {
			a, err = f.post("/load", config)
		}
		if err == nil || !errors.Is(err, errConflict) {
			break
		}
		u.Conflicts++
		time.Sleep(10 * time.Millisecond)
	}
	u.Ready = time.Since(u.At)
	if err != nil {
		u.Err = err.Error()
		return u
	}
	u.NewPid, u.OldPid = a.Pid, a.Draining.Pid
	f.serving = a.Pid
	if d, err := time.ParseDuration(a.Duration); err == nil {
		u.Reported = d
	}
	return u
}

// errConflict marks a 409 from the admin API.
var errConflict = errors.New("409")

// restart is the naive upgrade of the whole thing: SIGTERM to the
// supervisor, wait for its exit (it exits once every generation has),
// start again. OldPid and NewPid are the supervisors.
func (f *flipdProc) restart(config string) Upgrade {
	u := Upgrade{At: time.Now(), OldPid: f.supervisor()}
	f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.exited:
		u.Exited = time.Since(u.At)
	case <-time.After(60 * time.Second):
		u.Err = "flipd's supervisor did not exit within 60s of SIGTERM"
		return u
	}
	if err := f.start(config); err != nil {
		u.Err = err.Error()
		return u
	}
	u.Ready, u.NewPid = time.Since(u.At), f.supervisor()
	return u
}

// stop ends flipd as users do: SIGTERM to the supervisor, which passes it
// on and exits once every generation has; then SIGKILL to any flipd left
// below this process once grace has passed.
func (f *flipdProc) stop(grace time.Duration) {
	if f.exited != nil && f.cmd.Process != nil {
		f.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-f.exited:
		case <-time.After(grace):
		}
	}
	for _, p := range descendants(os.Getpid()) {
		if p.Comm == commOf(f.bin) && p.State != 'Z' {
			syscall.Kill(p.Pid, syscall.SIGKILL)
			waitExited(p.Pid, 5*time.Second)
		}
	}
}

// role is what a process is to this flipd: its supervisor, one of its
// generations (a flipd below the supervisor), or something a generation
// started.
func (f *flipdProc) role(p proc, all procTree) role {
	sup := f.supervisor()
	switch {
	case sup == 0:
		return roleNone
	case p.Pid == sup:
		return roleSupervisor
	case !all.isBelow(p, sup):
		return roleNone
	case p.Comm == commOf(f.bin):
		return roleGeneration
	}
	return roleWorker
}
