//go:build linux

package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The signal table of a supervised `flipd run` (issue 10): every signal
// goes to the supervisor's pid, the only one an operator, a shell or a
// container runtime knows.

// runCase is a supervised flipd run whose generations read a certificate
// through a gate (so that a test can hold a reload in any phase), with a
// request held in flight through generation 1.
type runCase struct {
	*flipdRun
	gate *gate
	up   *heldUpstream
	held <-chan string
}

func startRunCase(t *testing.T) *runCase {
	t.Helper()
	c := &runCase{gate: newGate(t), up: startHeldUpstream(t)}
	c.flipdRun = startRunWith(t, func(admin, web string, n int) string {
		return chaosConfig(admin, web, c.up.addr, c.gate.wrapper, fmt.Sprintf("generation=%d", n))
	}, []string{flipdBin, "run", "--config", "CONFIG"}, nil)
	c.held = c.up.inFlight(t, c.web)
	return c
}

// reload writes config 2 and sends SIGHUP to the supervisor.
func (c *runCase) reload() {
	c.write(2)
	signalPid(c.t, c.pid, syscall.SIGHUP)
}

// waitProcesses waits until n processes run this config (the supervisor
// and its generations).
func (c *runCase) waitProcesses(n int) {
	c.t.Helper()
	c.logs().waitFor(fmt.Sprintf("%d processes of flipd run", n), func() bool { return len(liveProcessesWith(c.config)) >= n })
}

// runPhases bring a reload to one of its phases.
var runPhases = []struct {
	name  string
	reach func(c *runCase)
}{
	// Generation 1 validates the new config; no child yet.
	{"validating", func(c *runCase) {
		c.gate.holdAfter(0)
		c.reload()
		c.gate.waitHeld(c.logs())
	}},
	// Generation 2 runs and provisions its modules; it has not said ready.
	{"child starting", func(c *runCase) {
		c.gate.holdAfter(1)
		c.reload()
		c.gate.waitHeld(c.logs())
		c.waitProcesses(3)
	}},
	// Generation 2 has just started: the signal races its handover.
	{"handing over", func(c *runCase) {
		c.reload()
		c.waitProcesses(3)
	}},
	// Generation 2 serves, generation 1 drains the held request.
	{"draining", func(c *runCase) {
		c.reload()
		waitAnswer(c.t, "http://"+c.web+"/", "generation=2")
		c.waitLog("supervisor: generation serves", 1)
	}},
}

// releaseGate lets a held certificate read go on, if a phase held one.
func (c *runCase) releaseGate() {
	select {
	case c.gate.resume <- struct{}{}:
	case <-time.After(100 * time.Millisecond): // nobody held, or killed meanwhile
	}
}

// heldAnswer releases the held request and returns its result.
func (c *runCase) heldAnswer() string {
	close(c.up.release)
	select {
	case got := <-c.held:
		return got
	case <-time.After(30 * time.Second):
		return "no answer within 30s"
	}
}

// TestRunStopsInEveryPhaseOfAReload sends SIGTERM or SIGINT to the
// supervisor in each phase of a reload: the request in flight is answered,
// every generation drains and exits with status 0, and so does flipd run.
func TestRunStopsInEveryPhaseOfAReload(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		for _, phase := range runPhases {
			t.Run(sig.String()+" "+phase.name, func(t *testing.T) {
				c := startRunCase(t)
				phase.reach(c)
				signalPid(t, c.pid, sig)
				time.Sleep(100 * time.Millisecond) // let the signal land first
				c.releaseGate()
				time.Sleep(200 * time.Millisecond) // the stop has begun; the request is still held
				select {
				case <-c.exited:
					t.Fatalf("flipd run exited (%v) with a request in flight", c.err)
				default:
				}
				if got := c.heldAnswer(); got != "200 held" {
					t.Errorf("the request in flight since before %v got %q, want \"200 held\"", sig, got)
				}
				if code := c.waitExit(30 * time.Second); code != 0 {
					t.Errorf("flipd run exited with status %d after %v while %s, want 0", code, sig, phase.name)
				}
				c.requireAllGone()
				c.requireGenerationsExited0()
			})
		}
	}
}

// TestRunSecondSIGINTStopsAtOnce: the first SIGINT (Ctrl-C) drains, so the
// request in flight is still being served; a second one closes it now.
func TestRunSecondSIGINTStopsAtOnce(t *testing.T) {
	c := startRunCase(t)
	signalPid(t, c.pid, syscall.SIGINT)
	c.waitLog("stopping:", 1)
	time.Sleep(200 * time.Millisecond)
	select {
	case got := <-c.held:
		t.Fatalf("one SIGINT ended the request in flight (%q): it should drain", got)
	case <-c.exited:
		t.Fatalf("flipd run exited (%v) after one SIGINT with a request in flight", c.err)
	default:
	}
	signalPid(t, c.pid, syscall.SIGINT)
	// The forced stop cut a request, and says so as it would without a
	// supervisor: "flipd run: ... closed 1 connection", status 1.
	if code := c.waitExit(10 * time.Second); code != 1 { // the upstream holds for 30s
		t.Errorf("flipd run exited with status %d after a second SIGINT cut a request, want 1", code)
	}
	c.waitLog("second interrupt: closing connections now", 1)
	select {
	case got := <-c.held:
		if got == "200 held" {
			t.Errorf("the request in flight was answered after a second SIGINT closed everything")
		}
	case <-time.After(10 * time.Second):
		t.Error("the request in flight was neither answered nor closed after a second SIGINT")
	}
	close(c.up.release)
	c.requireAllGone()
}

// TestRunRefusesASIGHUPThatComesDuringAReload: a second SIGHUP while a
// reload is held is refused with a log line, not handled later by the
// generation that handed over; the next SIGHUP reloads.
func TestRunRefusesASIGHUPThatComesDuringAReload(t *testing.T) {
	c := startRunCase(t)
	c.gate.holdAfter(1)
	c.reload()
	c.gate.waitHeld(c.logs())
	c.write(3)
	signalPid(t, c.pid, syscall.SIGHUP)
	c.waitLog("SIGHUP during a reload refused", 1)
	c.releaseGate()
	waitAnswer(t, "http://"+c.web+"/", "generation=2")
	c.waitLog("supervisor: generation serves", 1)
	if got := c.heldAnswer(); got != "200 held" {
		t.Errorf("the request in flight got %q, want \"200 held\"", got)
	}
	signalPid(t, c.pid, syscall.SIGHUP)
	waitAnswer(t, "http://"+c.web+"/", "generation=3")
	// The refused SIGHUP is not handled later either: by the generation
	// that handed over (refused again, "already handed over"), nor as a
	// reload of its own.
	c.waitLog("supervisor: generation serves", 2)
	time.Sleep(300 * time.Millisecond)
	if n := strings.Count(c.log(), "reload failed"); n > 0 {
		t.Errorf("%d reloads failed, want none:\n%s", n, c.log())
	}
	if n := strings.Count(c.log(), "supervisor: generation serves"); n != 2 {
		t.Errorf("%d generations came to serve after two accepted SIGHUPs, want 2", n)
	}
	c.stopWith(syscall.SIGTERM)
}
