//go:build linux

package upgrade

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// holdWithBacklog opens a conversation, holds it (the helper stops
// reading it), and writes n echo commands that wait in the kernel's
// receive buffer: a move must carry them.
func holdWithBacklog(t *testing.T, p *proc, n int) *helperConn {
	t.Helper()
	c := p.conn()
	t.Cleanup(func() { c.Close() })
	if got := c.ask("hold"); got != "held" {
		t.Fatalf("hold: got %q", got)
	}
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "echo %d\n", i)
	}
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return c
}

// expectEchoes reads the answers to holdWithBacklog's n commands, in
// order, from generation gen.
func expectEchoes(t *testing.T, c *helperConn, n, gen int) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := range n {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if want := fmt.Sprintf("%d %d\n", i, gen); line != want {
			t.Fatalf("answer %d: got %q, want %q", i, line, want)
		}
	}
}

func TestAConnectionWithUnreadBytesMovesAndTheNewGenerationReadsThemInOrder(t *testing.T) {
	p := startHelper(t, "", "HELPER_MOVE=1")
	const n = 3000 // about 30 KB, unread in the kernel's buffer
	c := holdWithBacklog(t, p, n)
	lines := p.upgradeSeeing(2, "MOVED", "ADOPTED")
	if lines["MOVED"] != "MOVED 0" || lines["ADOPTED"] != "ADOPTED conv 0" {
		t.Fatalf("the generations say %q", lines)
	}
	expectEchoes(t, c, n, 2)
	if got := c.ask("echo after"); got != "after 2" {
		t.Fatalf("got %q after the move", got)
	}
	// Its only conversation moved: the old generation exits without
	// waiting for the client to close.
	p.waitExit(p.cmd.Process.Pid)
	if got := c.ask("echo still"); got != "still 2" {
		t.Fatalf("got %q once the old generation exited", got)
	}
}

func TestAConnectionMovesThroughSeveralUpgrades(t *testing.T) {
	p := startHelper(t, "", "HELPER_MOVE=1")
	c := p.conn()
	defer c.Close()
	prev := p.cmd.Process.Pid
	for gen := 2; gen <= 4; gen++ {
		if got := c.ask("hold"); got != "held" {
			t.Fatalf("hold: got %q", got)
		}
		next := p.mustUpgrade(gen).pid
		if got := c.ask("echo x"); got != fmt.Sprintf("x %d", gen) {
			t.Fatalf("generation %d: got %q", gen, got)
		}
		// Its conversation moved: the old generation exits, without
		// waiting for the client.
		p.waitExit(prev)
		prev = next
	}
}

func TestANewGenerationThatFailsBeforeReadyReceivesNoConnection(t *testing.T) {
	p := startHelper(t, "", "HELPER_MOVE=1")
	const n = 100
	c := holdWithBacklog(t, p, n)
	p.setMode("listen-then-fail") // it offers, listens, then fails
	if res := p.upgrade(""); res.OK {
		t.Fatal("the upgrade succeeded")
	}
	// Nothing moved: the conversation is still held by generation 1,
	// so no answer comes.
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if line, err := c.r.ReadString('\n'); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("an answer came after the failed upgrade: %q, %v", line, err)
	}
	p.setMode("")
	p.mustUpgrade(2)
	expectEchoes(t, c, n, 2)
}

func TestAnOldChildThatIgnoresTheChannelGetsNothingAndTheConnectionStays(t *testing.T) {
	p := startHelper(t, "", "HELPER_MOVE=1")
	const n = 100
	c := holdWithBacklog(t, p, n)
	p.setMode("old-child")
	if line := p.upgradeSeeing(2, "NOT-MOVED")["NOT-MOVED"]; !strings.Contains(line, ErrConnNotAccepted.Error()) {
		t.Fatalf("the old generation says %q", line)
	}
	// Generation 1 goes on with the conversation, as in a drain.
	expectEchoes(t, c, n, 1)
	c.Close()
	p.waitExit(p.cmd.Process.Pid)
}

func TestAConnSenderWithoutAnUpgradeAcceptsNothing(t *testing.T) {
	var s *ConnSender
	if s.Accepts("x") || s.Send("x", nil, &net.TCPConn{}) == nil || s.Close() != nil {
		t.Fatal("a nil sender accepts")
	}
	s = openSender(nil, hclog.NewNullLogger())
	if s.Accepts("x") || !errors.Is(s.Send("x", nil, &net.TCPConn{}), ErrConnNotAccepted) {
		t.Fatal("a sender without a channel accepts")
	}
}

// upgradeSeeing upgrades to generation gen and waits for its READY line
// and for a line starting with each prefix, from either generation and
// in any order (both write to the same output); it returns them by
// prefix.
func (p *proc) upgradeSeeing(gen int, prefixes ...string) map[string]string {
	p.t.Helper()
	if res := p.upgrade(""); !res.OK {
		p.t.Fatalf("upgrade to generation %d failed: %s", gen, res.Error)
	}
	got := map[string]string{}
	ready := fmt.Sprintf("READY %d ", gen)
	timeout := time.After(30 * time.Second)
	for len(got) < len(prefixes)+1 {
		select {
		case line, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("helper output ended; got %q", got)
			}
			if strings.HasPrefix(line, "READY ") {
				var g, pid int
				fmt.Sscanf(line, "READY %d %d", &g, &pid)
				p.pids[pid] = true
			}
			if strings.HasPrefix(line, ready) {
				got["READY"] = line
			}
			for _, pre := range prefixes {
				if _, seen := got[pre]; !seen && strings.HasPrefix(line, pre+" ") {
					got[pre] = line
				}
			}
		case <-timeout:
			p.t.Fatalf("after 30s, got only %q", got)
		}
	}
	return got
}
