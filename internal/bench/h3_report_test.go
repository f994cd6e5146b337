package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

func TestQUICErrorsAreClassifiedByWhereTheyHappen(t *testing.T) {
	noError := quic.ApplicationErrorCode(http3.ErrCodeNoError)
	for _, c := range []struct {
		err  error
		want Kind
	}{
		{nil, OK},
		{&quic.StatelessResetError{}, Reset},
		{&quic.StreamError{StreamID: 4, ErrorCode: quic.StreamErrorCode(http3.ErrCodeRequestRejected), Remote: true}, Reset},
		{&http3.Error{ErrorCode: http3.ErrCodeRequestRejected, Remote: true}, Reset},
		{&quic.IdleTimeoutError{}, Timeout},
		{&quic.HandshakeTimeoutError{}, Timeout},
		{context.DeadlineExceeded, Timeout},
		{&quic.TransportError{ErrorCode: quic.TransportErrorCode(0x100 + 42), Remote: true}, TLSHandshake},
		{&quic.ApplicationError{ErrorCode: noError, Remote: true, ErrorMessage: "drained"}, EOF},
		{&quic.TransportError{ErrorCode: quic.ProtocolViolation}, EOF},
		{fmt.Errorf("wrapped: %w", &quic.IdleTimeoutError{}), Timeout},
		{errors.New("something else"), Other},
	} {
		if got := ClassifyH3(c.err); got != c.want {
			t.Errorf("ClassifyH3(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}

func TestAQUICConnectionIsLostUnlessClosedWithNoErrorAndNoFailedRequest(t *testing.T) {
	noError := quic.ApplicationErrorCode(http3.ErrCodeNoError)
	for _, c := range []struct {
		cause  error
		failed int
		want   string
	}{
		{&quic.ApplicationError{ErrorCode: noError, Remote: true}, 0, EndClean},
		{&quic.ApplicationError{ErrorCode: noError}, 0, EndClean},
		{&quic.ApplicationError{ErrorCode: noError, Remote: true}, 2, EndFailedRequests},
		{&quic.ApplicationError{ErrorCode: 0x102, Remote: true}, 0, EndAppError},
		{&quic.IdleTimeoutError{}, 0, EndIdleTimeout},
		{&quic.StatelessResetError{}, 0, EndStatelessReset},
		{&quic.TransportError{ErrorCode: quic.InternalError}, 0, EndTransportError},
		{errors.New("odd"), 0, EndOther},
	} {
		if got := ConnEnd(c.cause, c.failed); got != c.want {
			t.Errorf("ConnEnd(%v, %d) = %s, want %s", c.cause, c.failed, got, c.want)
		}
	}
}

func TestTheTrackerCountsConnectionsClosedLostAndOpenAtTheEnd(t *testing.T) {
	end := time.Now()
	tk := newH3Tracker()
	clean := &quic.ApplicationError{ErrorCode: quic.ApplicationErrorCode(http3.ErrCodeNoError), Remote: true}
	tk.all = []*h3Conn{
		{ended: end.Add(-time.Second), cause: clean},
		{ended: end.Add(-time.Second), cause: clean, failed: 1},
		{ended: end.Add(-time.Second), cause: &quic.IdleTimeoutError{}},
		{ended: end.Add(time.Second), cause: clean}, // closed by the client at the end
		{}, // never seen to end
	}
	tk.dialFailed, tk.retries = 1, 3
	s := tk.stats(end)
	want := QUICConnStats{Opened: 5, DialFailed: 1, Closed: 1, Lost: 2, Open: 2, GoawayRetries: 3,
		LostBy: map[string]int{EndFailedRequests: 1, EndIdleTimeout: 1}}
	if s.Opened != want.Opened || s.DialFailed != want.DialFailed || s.Closed != want.Closed || s.Lost != want.Lost ||
		s.Open != want.Open || s.GoawayRetries != want.GoawayRetries || fmt.Sprint(s.LostBy) != fmt.Sprint(want.LostBy) {
		t.Errorf("stats = %+v, want %+v", s, want)
	}
	if len(s.Examples) != 2 {
		t.Errorf("examples = %q, want one for each lost connection", s.Examples)
	}
}

// h3Report is a report of the h3 mode with flipd's run failing failed
// requests and losing lost connections, and the run without forwarding
// failing offFailed.
func h3Report(failed, lost, offFailed int) *Report {
	ups := []Upgrade{{Index: 0, Ready: time.Millisecond}, {Index: 1, Ready: time.Millisecond}}
	run := func(server string, failed, lost int) Result {
		load := Summary{Requests: 1000, OK: 1000 - failed, Failures: map[Kind]int{}}
		if failed > 0 {
			load.Failures[Reset] = failed
		}
		load.Conns = &QUICConnStats{Opened: 20, Closed: 4 - lost, Lost: lost, Open: 16, LostBy: map[string]int{}}
		if lost > 0 {
			load.Conns.LostBy[EndIdleTimeout] = lost
		}
		return Result{Server: server, Mode: ModeH3, Load: load, Upgrades: ups}
	}
	return &Report{Upgrades: 2, Rate: 100, H3Conns: 16,
		H3: []Result{run("flipd", failed, lost), run(h3NoForward, offFailed, 0)}}
}

func TestTheH3GoalsJudgeFlipdWithForwardingAndTheRunWithoutIt(t *testing.T) {
	for _, c := range []struct {
		name                  string
		failed, lost, off     int
		goalMet, canTell      bool
		flipdFailuresReported bool
	}{
		{"all well", 0, 0, 7, true, true, false},
		{"a failed request", 1, 0, 7, false, true, true},
		{"a lost connection", 0, 1, 7, false, true, true},
		{"forwarding off fails nothing", 0, 0, 0, true, false, false},
	} {
		rep := h3Report(c.failed, c.lost, c.off)
		checks := rep.Checks()
		if len(checks) != 2 {
			t.Fatalf("%s: %d checks, want 2: %+v", c.name, len(checks), checks)
		}
		if !strings.HasPrefix(checks[0].Target, "h3: 0 failed requests, 0 QUIC connections lost") || checks[0].Met != c.goalMet {
			t.Errorf("%s: goal %+v, want met %v", c.name, checks[0], c.goalMet)
		}
		if !strings.Contains(checks[1].Target, "forwarding off shows failures") || checks[1].Met != c.canTell {
			t.Errorf("%s: can tell %+v, want met %v", c.name, checks[1], c.canTell)
		}
		if got := len(rep.FlipdFailures()) > 0; got != c.flipdFailuresReported {
			t.Errorf("%s: FlipdFailures %q", c.name, rep.FlipdFailures())
		}
	}
}

func TestTheH3TableHasARowForEachServerWithItsConnections(t *testing.T) {
	rep := h3Report(0, 1, 5)
	rep.H3 = append(rep.H3, Result{Server: "flipd", Mode: ModeH3, Err: "load: ready: timed out"})
	md := rep.Markdown()
	for _, want := range []string{
		"| flipd | \"http3\": true, tls wrapper; QUIC forwarding on (the default) | 1000 | 0 |",
		"| 20 / 3 / **1** (idle_timeout 1) |",
		"| flipd, no forwarding | \"http3\": true, tls wrapper, \"http3_forward\": false | 1000 | **5**: reset 5 |",
		"error: load: ready: timed out",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the table lacks %q:\n%s", want, md)
		}
	}
	if svg := rep.H3SVG(); !strings.Contains(svg, "flipd, no forwarding") {
		t.Errorf("the plot has no panel for the run without forwarding")
	}
}
