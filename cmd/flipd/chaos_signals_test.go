//go:build linux

package main

import (
	"syscall"
	"testing"
	"time"
)

// upgradePhase brings a reload to one of its phases and returns the pid
// an operator's signal goes to then: the pid file's (kill $(cat pidfile),
// systemd's MAINPID). The reload writes config "two" and sends SIGHUP.
type upgradePhase struct {
	name  string
	reach func(c *chaosCase) int
}

var upgradePhases = []upgradePhase{
	// The serving generation validates the new config (it blocks reading
	// the gated certificate); no child exists yet.
	{"before start", func(c *chaosCase) int {
		c.gate.holdAfter(0)
		old := c.reload()
		c.gate.waitHeld(c.d)
		return old
	}},
	// The new generation runs and provisions its modules (blocked on the
	// certificate); it has not said ready.
	{"child starting", func(c *chaosCase) int {
		c.gate.holdAfter(1)
		old := c.reload()
		c.gate.waitHeld(c.d)
		c.d.waitFor("the new generation's process", func() bool { return len(c.d.alive()) == 2 })
		return old
	}},
	// The new generation has just said ready: the pid file names it.
	{"child ready", func(c *chaosCase) int {
		old := c.reload()
		c.d.waitFor("the new generation to write the pid file", func() bool { p := c.d.pid(); return p != 0 && p != old })
		return c.d.pid()
	}},
	// The new generation serves, the old one drains the held request.
	{"draining", func(c *chaosCase) int {
		old := c.reload()
		c.d.waitFor("the new generation to write the pid file", func() bool { p := c.d.pid(); return p != 0 && p != old })
		waitAnswer(c.t, "http://"+c.web+"/", "two")
		return c.d.pid()
	}},
}

// chaosCase is one daemon with a gated certificate, a held request in
// flight through generation 1, and load running.
type chaosCase struct {
	t          *testing.T
	d          *daemon
	gate       *gate
	up         *heldUpstream
	admin, web string
	load       *loadLoop
	held       <-chan string
}

func startChaosCase(t *testing.T) *chaosCase {
	c := &chaosCase{t: t, gate: newGate(t), up: startHeldUpstream(t), admin: freeAddr(t), web: freeAddr(t)}
	c.d = startFlipd(t, c.config("one"))
	c.load = startLoad("http://"+c.web+"/", 4)
	c.held = c.up.inFlight(t, c.web)
	return c
}

func (c *chaosCase) config(body string) string {
	return chaosConfig(c.admin, c.web, c.up.addr, c.gate.wrapper, body)
}

// reload writes config "two" and sends SIGHUP to the serving generation;
// it returns that generation's pid.
func (c *chaosCase) reload() int {
	old := c.d.pid()
	c.d.writeConfig(c.config("two"))
	signalPid(c.d.t, old, syscall.SIGHUP)
	return old
}

// releaseGate lets a held certificate read go on, if a phase held one.
func (c *chaosCase) releaseGate() {
	select {
	case c.gate.resume <- struct{}{}:
	case <-time.After(100 * time.Millisecond): // nobody held, or killed meanwhile
	}
}

// heldAnswer releases the held request and checks it was answered.
func (c *chaosCase) heldAnswer() {
	c.t.Helper()
	close(c.up.release)
	select {
	case got := <-c.held:
		if got != "200 held" {
			c.t.Errorf("the request in flight since before the signal got %q, want \"200 held\"; log:\n%s", got, c.d.log())
		}
	case <-time.After(30 * time.Second):
		c.t.Errorf("the request in flight since before the signal got no answer; log:\n%s", c.d.log())
	}
}

// TestChaosSignalsInEveryPhaseOfAnUpgrade sends SIGHUP, SIGTERM and SIGINT
// in each phase of an upgrade. SIGHUP: the service never stops answering
// and, in the end, one generation serves. SIGTERM (to the pid file's pid)
// and SIGINT (to every process, as Ctrl-C in a terminal does): the
// upgrade does not outlive the stop, the request in flight is answered,
// and every process exits with status 0. For the stops, the load stops
// just before the signal: a listener closed by a stop resets connections
// still in its accept queue, which is what a stop means, not a drop.
func TestChaosSignalsInEveryPhaseOfAnUpgrade(t *testing.T) {
	signals := []struct {
		name string
		sig  syscall.Signal
	}{{"SIGHUP", syscall.SIGHUP}, {"SIGTERM", syscall.SIGTERM}, {"SIGINT", syscall.SIGINT}}
	for _, s := range signals {
		for _, phase := range upgradePhases {
			sig := s.sig
			t.Run(s.name+" "+phase.name, func(t *testing.T) {
				c := startChaosCase(t)
				target := phase.reach(c)
				if sig != syscall.SIGHUP {
					c.load.finish(t, c.d)
				}
				if sig == syscall.SIGINT {
					c.d.signalGroup(sig)
				} else {
					signalPid(t, target, sig)
				}
				time.Sleep(100 * time.Millisecond) // let the signal land first
				c.releaseGate()
				if sig == syscall.SIGHUP {
					c.d.waitFor("the new generation to serve", func() bool { return c.d.pid() != c.d.cmd.Process.Pid })
					c.heldAnswer()
					c.d.oneGenerationServes(c.admin, c.web, "two")
					c.load.finish(t, c.d)
					c.d.oneGenerationServes(c.admin, c.web, "two")
					return
				}
				time.Sleep(200 * time.Millisecond) // the stop has begun; the request is still held
				c.heldAnswer()
				c.d.allExit()
			})
		}
	}
}
