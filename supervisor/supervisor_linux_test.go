package supervisor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	playRole()
	// A supervisor that exits leaves what it did not reap to us: be their
	// reaper rather than PID 1, which may not reap here.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	os.Exit(m.Run())
}

// supRun is a supervisor started by a test, with a fake systemd listening on
// its NOTIFY_SOCKET.
type supRun struct {
	t       *testing.T
	cmd     *exec.Cmd
	genLog  string
	systemd *net.UnixConn
	supLog  string
	done    chan struct{}
}

// startRun starts the test binary as a supervisor of the test binary as a
// generation in mode, with extra environment for the generation.
func startRun(t *testing.T, mode string, env ...string) *supRun {
	t.Helper()
	dir := t.TempDir()
	r := &supRun{t: t, genLog: filepath.Join(dir, "gen.log"), done: make(chan struct{})}
	sock := filepath.Join(dir, "systemd.sock")
	var err error
	r.systemd, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.systemd.Close() })
	if err := setPassCred(r.systemd); err != nil {
		t.Fatal(err)
	}
	args, _ := json.Marshal([]string{os.Args[0]})
	r.cmd = exec.Command(os.Args[0])
	r.cmd.Env = append(os.Environ(), roleEnv+"=supervisor", argsEnv+"="+string(args), modeEnv+"="+mode,
		logEnv+"="+r.genLog, "NOTIFY_SOCKET="+sock, "GORACE=atexit_sleep_ms=0")
	r.cmd.Env = append(r.cmd.Env, env...)
	// A file: every process of the tree may write to it, and reading it
	// races with nobody.
	r.supLog = filepath.Join(dir, "supervisor.log")
	out, err := os.Create(r.supLog)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	r.cmd.Stdout, r.cmd.Stderr = out, out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			r.cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(r.genLog)
			t.Logf("supervisor log:\n%s\ngeneration log:\n%s", r.log(), b)
		}
	})
	r.waitLine("started ")
	return r
}

// log is what the supervisor logged.
func (r *supRun) log() string {
	b, _ := os.ReadFile(r.supLog)
	return string(b)
}

// lines are the generations' log lines that start with prefix.
func (r *supRun) lines(prefix string) []string {
	b, _ := os.ReadFile(r.genLog)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func (r *supRun) waitLine(prefix string) string {
	r.t.Helper()
	for range 1000 {
		if l := r.lines(prefix); len(l) > 0 {
			return l[len(l)-1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatalf("the generation never logged %q", prefix)
	return ""
}

func (r *supRun) signal(sig syscall.Signal) {
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("%v to the supervisor: %v", sig, err)
	}
}

// upstream reads the next message the supervisor passed on to "systemd",
// and checks that the supervisor itself sent it.
func (r *supRun) upstream() string {
	r.t.Helper()
	buf, oob := make([]byte, 4096), make([]byte, 256)
	r.systemd.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, oobn, _, _, err := r.systemd.ReadMsgUnix(buf, oob)
	if err != nil {
		r.t.Fatalf("no notification reached systemd: %v", err)
	}
	if pid, ok := parseCredentials(oob[:oobn]); !ok || pid != r.cmd.Process.Pid {
		r.t.Errorf("systemd got a notification from pid %d, want the supervisor's %d", pid, r.cmd.Process.Pid)
	}
	return string(buf[:n])
}

// exitCode waits for the supervisor to exit.
func (r *supRun) exitCode() int {
	r.t.Helper()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		r.t.Fatal("the supervisor did not exit")
	}
	return r.cmd.ProcessState.ExitCode()
}

func touch(t *testing.T, path string) {
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestEachSignalReachesTheServingGenerationOnceAndHUPWaitsForReady(t *testing.T) {
	r := startRun(t, "ready")
	started := r.waitLine("started ")
	if strings.Contains(started, fmt.Sprintf("pgid=%d ", syscall.Getpgrp())) {
		t.Errorf("the generation shares a process group with us: %s", started)
	}
	if !strings.HasSuffix(started, fmt.Sprintf(" supervisor=%d", r.cmd.Process.Pid)) {
		t.Errorf("the generation does not know its supervisor's pid from %s: %s", PIDEnv, started)
	}

	r.signal(syscall.SIGHUP)
	time.Sleep(300 * time.Millisecond)
	if l := r.lines("signal "); len(l) > 0 {
		t.Fatalf("a SIGHUP reached the generation before it was ready: %v", l)
	}
	touch(t, r.genLog+".ready")
	want := fmt.Sprintf("MAINPID=%d\nREADY=1\nSTATUS=serving", r.cmd.Process.Pid)
	if got := r.upstream(); got != want {
		t.Errorf("systemd got %q, want %q (own pid, FDSTORE not passed on)", got, want)
	}
	r.waitLine("signal hangup")

	r.signal(syscall.SIGUSR1)
	r.waitLine("signal user defined signal 1")
	r.signal(syscall.SIGUSR2)
	r.waitLine("signal user defined signal 2")
	r.signal(syscall.SIGTERM)
	if got := r.upstream(); got != "STOPPING=1" {
		t.Errorf("systemd got %q on SIGTERM, want STOPPING=1", got)
	}
	if code := r.exitCode(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	got := r.lines("signal ")
	if len(got) != 4 || !strings.HasPrefix(got[3], "signal terminated") {
		t.Errorf("the generation got %q, want hangup, user defined signal 1, user defined signal 2 and terminated, once each", got)
	}
}

func TestNotificationsFromStrangersAreIgnored(t *testing.T) {
	r := startRun(t, "stranger", strangerEnv+"="+strconv.Itoa(os.Getpid()))
	// The generation named the test process as MAINPID: not a generation.
	if got := r.upstream(); got != "READY=1" {
		t.Errorf("systemd got %q, want READY=1 without MAINPID", got)
	}
	// The test process is no descendant of the supervisor: its messages
	// are dropped whatever they say.
	notifyPath := notifySocketOf(t, r.waitLine("started "))
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte(fmt.Sprintf("MAINPID=%d\nSTATUS=hijacked", os.Getpid())))
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(r.log(), "not a generation dropped") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(r.log(), "not a generation dropped") {
		t.Error("a notification from the test process was not dropped")
	}

	r.signal(syscall.SIGTERM) // still goes to the generation
	r.waitLine("signal terminated")
	if code := r.exitCode(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if !strings.Contains(r.log(), "MAINPID naming a process that is not a generation ignored") {
		t.Error("the supervisor did not log the MAINPID it ignored")
	}
}

// notifySocketOf finds the generation's NOTIFY_SOCKET through /proc.
func notifySocketOf(t *testing.T, started string) string {
	t.Helper()
	var pid int
	fmt.Sscanf(started, "started pid=%d", &pid)
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("NOTIFY_SOCKET=")); ok {
			return string(v)
		}
	}
	t.Fatal("the generation has no NOTIFY_SOCKET")
	return ""
}

func TestExitWaitsForDrainingGenerationsAndTakesTheServingOnesStatus(t *testing.T) {
	r := startRun(t, "chain")
	r.upstream() // the second generation serves
	r.signal(syscall.SIGTERM)
	r.waitLine("signal terminated")
	time.Sleep(300 * time.Millisecond)
	select {
	case <-r.done:
		t.Fatal("the supervisor exited while the first generation still drained")
	default:
	}
	touch(t, r.genLog+".release")
	if code := r.exitCode(); code != 5 {
		t.Errorf("exit status %d, want 5: the serving generation's, not the draining one's 3", code)
	}
	if got := r.lines("signal "); len(got) != 1 {
		t.Errorf("signals %q, want one SIGTERM to the serving generation only", got)
	}
}

func TestAStopThatRacesAHandoverStopsTheNewGenerationToo(t *testing.T) {
	r := startRun(t, "late-handover")
	r.signal(syscall.SIGTERM)
	if code := r.exitCode(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	got := r.lines("signal ")
	if len(got) != 2 || got[0][:17] != "signal terminated" || got[1][:17] != "signal terminated" {
		t.Errorf("signals %q, want one SIGTERM for each generation", got)
	}
}

func TestPIDFileNamesTheSupervisor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.pid")
	r := startRun(t, "ready", "SUPERVISOR_TEST_PIDFILE="+path)
	b, err := os.ReadFile(path)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(r.cmd.Process.Pid) {
		t.Errorf("PID file says %q (%v), want %d", b, err, r.cmd.Process.Pid)
	}
	r.signal(syscall.SIGTERM)
	r.exitCode()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PID file left after exit: %v", err)
	}
}

func TestPIDFileWhenReadyWaitsForTheFirstREADY(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.pid")
	r := startRun(t, "ready", "SUPERVISOR_TEST_PIDFILE="+path, "SUPERVISOR_TEST_PIDFILE_WHEN_READY=1")
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PID file written before the generation said READY=1: %v", err)
	}
	touch(t, r.genLog+".ready")
	r.upstream() // MAINPID, READY=1: passed on after the PID file is written
	b, err := os.ReadFile(path)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(r.cmd.Process.Pid) {
		t.Errorf("PID file says %q (%v) after READY=1, want %d", b, err, r.cmd.Process.Pid)
	}
	r.signal(syscall.SIGTERM)
	r.exitCode()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PID file left after exit: %v", err)
	}
}

func TestRunRefusesNoCommand(t *testing.T) {
	if _, err := Run(Options{}); err == nil {
		t.Error("Run without a command did not fail")
	}
}

func TestAStopBeforeReadyReachesTheFirstChild(t *testing.T) {
	r := startRun(t, "silent", codeEnv+"=4")
	r.signal(syscall.SIGHUP) // held: no READY=1 yet
	r.signal(syscall.SIGTERM)
	if code := r.exitCode(); code != 4 {
		t.Errorf("exit status %d, want the first child's 4", code)
	}
	if got := r.lines("signal "); len(got) != 1 || !strings.HasPrefix(got[0], "signal terminated") {
		t.Errorf("signals %q, want only SIGTERM", got)
	}
	if !strings.Contains(r.log(), "never delivered") {
		t.Error("the held SIGHUP was dropped without a log line")
	}
}

func TestASIGHUPDuringAReloadIsForwardedWithALogLine(t *testing.T) {
	r := startRun(t, "reloading")
	r.upstream() // MAINPID, READY=1
	if got := r.upstream(); got != "RELOADING=1" {
		t.Fatalf("systemd got %q, want RELOADING=1", got)
	}
	r.signal(syscall.SIGHUP)
	r.waitLine("signal hangup")
	if !strings.Contains(r.log(), "forwarding SIGHUP during a reload") {
		t.Error("the supervisor forwarded a SIGHUP during a reload without saying so")
	}
	r.signal(syscall.SIGTERM)
	if code := r.exitCode(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
}

// A generation whose parent generation reaps it sends us no SIGCHLD: the
// supervisor looks for it while two or more generations run.
func TestAGenerationReapedByItsParentGenerationIsNoticed(t *testing.T) {
	r := startRun(t, "reaps")
	r.upstream() // the second generation serves
	r.waitLine("reaped pid=")
	for range 500 {
		if strings.Contains(r.log(), "reaped by its parent generation") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(r.log(), "reaped by its parent generation") {
		t.Fatal("the supervisor did not notice that the serving generation was reaped by its parent")
	}
	touch(t, r.genLog+".release")
	// The serving generation's status went to its parent: unknown here.
	if code := r.exitCode(); code != 1 {
		t.Errorf("exit status %d, want 1 (the serving generation's status is unknown)", code)
	}
}

// An idle supervisor with one generation, PID 1 in a container say, does
// not wake by itself: that generation is its child, and SIGCHLD tells of
// its exit.
func TestAnIdleSupervisorDoesNotWake(t *testing.T) {
	r := startRun(t, "ready")
	touch(t, r.genLog+".ready")
	r.upstream()                       // MAINPID, READY=1
	time.Sleep(300 * time.Millisecond) // the notification's work is done
	before := voluntarySwitches(t, r.cmd.Process.Pid)
	time.Sleep(time.Second)
	// With the old 200 ms poll, this was about 40 a second.
	if n := voluntarySwitches(t, r.cmd.Process.Pid) - before; n > 2 {
		t.Errorf("the idle supervisor's threads went to sleep %d times in a second, want none", n)
	}
	r.signal(syscall.SIGTERM)
	r.exitCode()
}

// voluntarySwitches sums the voluntary context switches of pid's threads:
// how often they went to sleep.
func voluntarySwitches(t *testing.T, pid int) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "status"))
		if err != nil {
			continue // the thread is gone
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "voluntary_ctxt_switches:"); ok {
				k, _ := strconv.Atoi(strings.TrimSpace(v))
				n += k
			}
		}
	}
	return n
}
