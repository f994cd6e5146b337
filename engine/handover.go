package engine

import (
	"os"
	"syscall"

	"github.com/flipd/flipd/upgrade"
)

// handOver records that the generation pid serves now; if a stop came
// while it started, it is passed on to that generation, which drains and
// exits like this one.
func (in *Instance) handOver(pid int) {
	in.mu.Lock()
	in.handedOver = true
	stop := in.stopAsked
	in.mu.Unlock()
	if !stop {
		return
	}
	in.log.Warn("a stop came while the new generation started; stopping it too", "new_pid", pid)
	if err := in.stopPid(pid); err != nil {
		in.log.Error("stopping the new generation failed", "new_pid", pid, "error", err)
	}
}

// watchNewGeneration warns if the generation that took over exits while
// this one still drains: unless it handed over in turn, nothing serves,
// and the operator should hear it from flipd, not from refused
// connections.
func (in *Instance) watchNewGeneration(child upgrade.Child) {
	if child.Exited == nil {
		return
	}
	select {
	case <-child.Exited:
	case <-in.done:
		return
	}
	exit := "unknown"
	if child.ExitState != nil {
		if st := child.ExitState(); st != nil {
			exit = st.String()
		}
	}
	in.log.Warn("the new generation exited while this one drains; unless it handed over to a newer one, nothing serves",
		"new_generation", child.Generation, "new_pid", child.Pid, "exit", exit)
}

// stopProcess asks the generation pid to stop gracefully (SIGTERM).
func stopProcess(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(syscall.SIGTERM)
}
