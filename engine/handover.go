package engine

import (
	"os"
	"syscall"
	"time"

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

// newGenerationSettle is how long after a handover this generation, once
// drained, still watches the new one before it exits: a new generation
// that says ready and dies at once (a crash right after start-up) is then
// reported here, even when the drain took a millisecond. Under the
// supervisor, its log says so too; in the chain model nobody else would.
const newGenerationSettle = 20 * time.Millisecond

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
		in.warnNewGenerationExited(child)
	case <-in.done:
	}
}

// settleNewGeneration is called once this generation has drained, before
// it exits: it gives the new generation the rest of newGenerationSettle
// since the handover to show it survived, and reports it if it did not.
func (in *Instance) settleNewGeneration() {
	in.mu.Lock()
	child, since := in.newGen, in.newGenSince
	in.mu.Unlock()
	if child.Exited == nil {
		return
	}
	wait := time.NewTimer(time.Until(since.Add(newGenerationSettle)))
	defer wait.Stop()
	select {
	case <-child.Exited:
		in.warnNewGenerationExited(child)
	case <-wait.C:
	}
}

func (in *Instance) warnNewGenerationExited(child upgrade.Child) {
	in.newGenWarned.Do(func() {
		exit := "unknown"
		if child.ExitState != nil {
			if st := child.ExitState(); st != nil {
				exit = st.String()
			}
		}
		in.log.Warn("the new generation exited while this one drains; unless it handed over to a newer one, nothing serves",
			"new_generation", child.Generation, "new_pid", child.Pid, "exit", exit)
	})
}

// stopProcess asks the generation pid to stop gracefully (SIGTERM).
func stopProcess(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(syscall.SIGTERM)
}

// acceptStopper is an admin API server that can stop accepting for good
// while the connections it has go on (admin.Server.StopAccepting).
type acceptStopper interface{ StopAccepting() }

// stopAdminAccepting closes the admin API's listener once a reload has
// handed over, before the reload is answered. The new generation serves
// the same socket: a client that sends its next request on a new
// connection once it has the answer (a second reload, GET /status)
// reaches the generation that serves, not this one, which would have
// answered for a config it no longer serves, or 409 "already handed
// over". Without this the listener closes only when the drain begins, a
// moment later, racing the client.
func (in *Instance) stopAdminAccepting() {
	in.mu.Lock()
	l := in.current
	in.mu.Unlock()
	for _, li := range l.listeners {
		if s, ok := li.module.(acceptStopper); ok && li.admin {
			s.StopAccepting()
		}
	}
}
