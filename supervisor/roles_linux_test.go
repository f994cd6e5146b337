package supervisor

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"
)

// The test binary plays two roles besides running tests, chosen by
// roleEnv: "supervisor" runs Run on the command in argsEnv (a JSON array),
// and "generation" is a program that says what happens to it in the file
// named by logEnv, one line per event.
const (
	roleEnv = "SUPERVISOR_TEST_ROLE"
	argsEnv = "SUPERVISOR_TEST_ARGS"
	modeEnv = "SUPERVISOR_TEST_MODE"
	logEnv  = "SUPERVISOR_TEST_LOG"
	codeEnv = "SUPERVISOR_TEST_TERM_CODE" // exit status after SIGTERM
	// strangerEnv is the pid of the test process, no descendant of the
	// supervisor.
	strangerEnv = "SUPERVISOR_TEST_STRANGER"
)

func playRole() {
	switch os.Getenv(roleEnv) {
	case "supervisor":
		playSupervisor()
	case "generation":
		playGeneration()
	}
}

func playSupervisor() {
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(argsEnv)), &args); err != nil {
		fmt.Fprintln(os.Stderr, "bad", argsEnv, err)
		os.Exit(99)
	}
	env := withEnv(os.Environ(), roleEnv+"=generation")
	log := hclog.New(&hclog.LoggerOptions{Output: os.Stderr, Level: hclog.Debug})
	code, err := Run(Options{Args: args, Env: env, PIDFile: os.Getenv("SUPERVISOR_TEST_PIDFILE"),
		PIDFileWhenReady: os.Getenv("SUPERVISOR_TEST_PIDFILE_WHEN_READY") != "", Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(98)
	}
	os.Exit(code)
}

// playGeneration: every signal is logged; SIGTERM and SIGINT end it. The
// mode says what else it does:
//
//	silent:        sends no notification
//	ready:         MAINPID=/READY=1 (and fields the supervisor must not
//	               pass on) once the file LOG.ready exists
//	reloading:     READY=1, then RELOADING=1 and never READY=1 again
//	stranger:      READY=1 with MAINPID= naming the test process
//	chain:         starts a second generation (mode ready) and, once it
//	               serves, lingers as a draining one until LOG.release
//	               exists, then exits 3
//	late-handover: on SIGTERM, starts a second generation (mode ready) as
//	               if the stop had raced an upgrade, and exits once it is
//	               ready
//	reaps:         starts a second generation (mode ready) and, once it
//	               serves, kills and reaps it, as the parent of a new
//	               generation that fails; then lingers until LOG.release
//	               exists, and exits 3
func playGeneration() {
	logf := os.Getenv(logEnv)
	note := func(format string, args ...any) {
		f, err := os.OpenFile(logf, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err == nil {
			fmt.Fprintf(f, format+"\n", args...)
			f.Close()
		}
	}
	sigC := make(chan os.Signal, 16)
	signal.Notify(sigC, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2)
	pid := os.Getpid()
	note("started pid=%d pgid=%d ppid=%d supervisor=%s", pid, syscall.Getpgrp(), os.Getppid(), os.Getenv(PIDEnv))

	mode := os.Getenv(modeEnv)
	switch mode {
	case "ready":
		go func() {
			waitFile(logf + ".ready")
			daemon.SdNotify(false, "MAINPID="+strconv.Itoa(pid)+"\nREADY=1\nSTATUS=serving\nFDSTORE=1")
			note("ready pid=%d", pid)
		}()
	case "reloading":
		daemon.SdNotify(false, "MAINPID="+strconv.Itoa(pid)+"\nREADY=1")
		daemon.SdNotify(false, "RELOADING=1")
		note("reloading pid=%d", pid)
	case "stranger":
		daemon.SdNotify(false, "MAINPID="+os.Getenv(strangerEnv)+"\nREADY=1")
		note("ready pid=%d", pid)
	case "chain":
		startSecond(logf)
		waitFile(logf + ".release")
		note("exiting pid=%d", pid)
		os.Exit(3)
	case "reaps":
		second := startSecond(logf)
		waitLog(logf, fmt.Sprintf("ready pid=%d", second.Pid))
		second.Kill()
		second.Wait()
		note("reaped pid=%d", second.Pid)
		waitFile(logf + ".release")
		note("exiting pid=%d", pid)
		os.Exit(3)
	}
	for sig := range sigC {
		note("signal %s pid=%d", sig, pid)
		if sig != syscall.SIGTERM && sig != syscall.SIGINT {
			continue
		}
		if mode == "late-handover" {
			second := startSecond(logf)
			second.Wait()
		}
		code, _ := strconv.Atoi(os.Getenv(codeEnv))
		os.Exit(code)
	}
}

// startSecond starts the next generation, ready at once.
func startSecond(logf string) *os.Process {
	os.WriteFile(logf+".ready", nil, 0o600)
	env := withEnv(os.Environ(), modeEnv+"=ready", codeEnv+"=5")
	p, err := os.StartProcess("/proc/self/exe", []string{os.Args[0]}, &os.ProcAttr{Env: env, Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
	if err != nil {
		panic(err)
	}
	return p
}

// waitLog waits until the log at path has a line that begins with prefix.
func waitLog(path, prefix string) {
	for range 3000 {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, prefix) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitFile(path string) {
	for range 3000 {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// withEnv is env with the variables of kvs set to their new values: the
// first of two entries for a name is the one a program sees.
func withEnv(env []string, kvs ...string) []string {
	out := make([]string, 0, len(env)+len(kvs))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(kvs, func(s string) bool { return strings.HasPrefix(s, name+"=") }) {
			out = append(out, kv)
		}
	}
	return append(out, kvs...)
}
