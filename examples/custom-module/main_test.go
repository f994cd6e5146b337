//go:build linux

package main

import (
	"bufio"
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

// The custom build serves its own module and reloads it like any other.
func TestCustomModuleServesAndReloads(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command to build the example")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "flipd-custom")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	config := filepath.Join(dir, "greeter.json")
	write := func(greeting string) {
		os.WriteFile(config, []byte(fmt.Sprintf(`{"admin": {"disabled": true}, "listeners": {
			"hi": {"address": "tcp/%s", "module": "greeter", "greeting": %q}}}`, addr, greeting)), 0o644)
	}
	write("hi")
	pidFile := filepath.Join(dir, "pid")
	cmd := exec.Command(bin, "run", "--config", config, "--pidfile", pidFile)
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Orphaned generations become our children, to be reaped here.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	// flipd run keeps one pid for life: the process started here is the
	// supervisor, which stops every generation on SIGTERM. Killing it
	// instead would leave the serving generation running, holding the
	// test's output open.
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("flipd run after SIGTERM: %v, want exit status 0", err)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("flipd run did not exit within 20s of SIGTERM")
		}
	}()

	if got := greet(t, addr); got != "hi from generation 1" {
		t.Fatalf("got %q", got)
	}
	// The pid file is written once generation 1 is ready, a moment
	// after it starts answering.
	old := readPid(pidFile)
	for wait := time.Now().Add(10 * time.Second); old == 0 && time.Now().Before(wait); old = readPid(pidFile) {
		time.Sleep(10 * time.Millisecond)
	}
	if old != cmd.Process.Pid {
		t.Fatalf("the pid file names %d, want the pid flipd run was started with, %d", old, cmd.Process.Pid)
	}
	write("hello again")
	syscall.Kill(old, syscall.SIGHUP)
	deadline := time.Now().Add(20 * time.Second)
	for greet(t, addr) != "hello again from generation 2" {
		if time.Now().After(deadline) {
			t.Fatal("the reloaded greeting never came")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func greet(t *testing.T, addr string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(line)
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readPid(path string) int {
	b, _ := os.ReadFile(path)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
