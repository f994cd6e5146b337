//go:build unix

package engine

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// A stop that came while a reload was in flight, which the new generation
// won anyway (it was ready at the same moment), is passed on to it.
func TestHandOverPassesAStopToTheNewGeneration(t *testing.T) {
	for _, asked := range []bool{true, false} {
		sleep := exec.Command("sleep", "30")
		if err := sleep.Start(); err != nil {
			t.Skip("needs sleep:", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- sleep.Wait() }()
		in := &Instance{log: hclog.NewNullLogger(), stopAsked: asked, stopPid: stopProcess}
		in.handOver(sleep.Process.Pid)
		select {
		case err := <-exited:
			ws, _ := sleep.ProcessState.Sys().(syscall.WaitStatus)
			if !asked || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
				t.Fatalf("stop asked %v: the new generation exited with %v", asked, err)
			}
		case <-time.After(wait(asked)):
			if asked {
				t.Fatal("a stop asked during the reload was not passed on to the new generation")
			}
			sleep.Process.Kill()
			<-exited
		}
	}
}

// wait is how long to wait for the signal: long when it must come, short
// when it must not.
func wait(asked bool) time.Duration {
	if asked {
		return 20 * time.Second
	}
	return 500 * time.Millisecond
}
