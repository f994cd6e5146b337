package upgrade

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNotSupported is returned by New on platforms that cannot pass file
// descriptors to a new process (Windows).
var ErrNotSupported = errors.New("upgrade: platform does not support graceful restart")

var (
	// ErrUpgradeInProgress is returned by Upgrade while another upgrade of
	// the same process has not finished yet.
	ErrUpgradeInProgress = errors.New("upgrade: another upgrade is in progress")
	// ErrNotReady is returned by Upgrade before Ready has been called.
	ErrNotReady = errors.New("upgrade: process is not ready yet")
	// ErrTerminating is returned by Upgrade after Stop.
	ErrTerminating = errors.New("upgrade: terminating")
	// ErrAlreadyUpgraded is returned by Upgrade once this process has
	// handed over to a new generation: only the newest generation upgrades.
	ErrAlreadyUpgraded = errors.New("upgrade: already handed over to a new generation")
)

// FailureReason says how a new generation failed to become ready.
type FailureReason string

// The ways a new generation can fail; see ChildError.
const (
	// ReasonStart: the executable could not be started (missing, not
	// executable, too many descriptors to pass, ...).
	ReasonStart FailureReason = "start"
	// ReasonReported: the child reported an error through the handshake
	// (Upgrader.Fail) before it was ready.
	ReasonReported FailureReason = "reported"
	// ReasonExited: the child exited or was killed before it was ready.
	ReasonExited FailureReason = "exited"
	// ReasonTimeout: the child was not ready within Options.UpgradeTimeout
	// and has been killed and reaped.
	ReasonTimeout FailureReason = "timeout"
	// ReasonStopped: Stop was called while the upgrade was in flight; the
	// child has been killed and reaped.
	ReasonStopped FailureReason = "stopped"
	// ReasonProtocol: the child answered something this version of the
	// handshake does not understand.
	ReasonProtocol FailureReason = "protocol"
)

// ChildError is returned by Upgrade when the new generation did not become
// ready. The calling process keeps all its sockets and goes on serving.
//
// Inspect it with errors.As:
//
//	var ce *upgrade.ChildError
//	if errors.As(err, &ce) && ce.Reason == upgrade.ReasonReported {
//		log.Printf("new config refused: %s", ce.Message)
//	}
type ChildError struct {
	// Generation is the number the failed child would have had.
	Generation int
	// Pid of the child; 0 if it never started.
	Pid int
	// Reason says how it failed.
	Reason FailureReason
	// Message is the child's own error message (ReasonReported).
	Message string
	// ExitCode is the child's exit status, or -1 if it did not exit by
	// itself (killed by a signal, never started).
	ExitCode int
	// Signal names the signal that killed the child, if any ("killed",
	// "segmentation fault", ...).
	Signal string
	// Timeout is the UpgradeTimeout that expired (ReasonTimeout).
	Timeout time.Duration
	// Err is the underlying error, if any (ReasonStart, ReasonProtocol).
	Err error
}

func (e *ChildError) Error() string {
	var b strings.Builder
	b.WriteString("upgrade: new generation ")
	b.WriteString(strconv.Itoa(e.Generation))
	if e.Pid > 0 {
		b.WriteString(" (pid ")
		b.WriteString(strconv.Itoa(e.Pid))
		b.WriteString(")")
	}
	switch e.Reason {
	case ReasonStart:
		b.WriteString(" could not start")
	case ReasonReported:
		b.WriteString(" failed: ")
		b.WriteString(e.Message)
	case ReasonExited:
		b.WriteString(" ")
		b.WriteString(e.exitDescription())
		b.WriteString(" before it was ready")
	case ReasonTimeout:
		fmt.Fprintf(&b, " was not ready within %s and was killed", e.Timeout)
	case ReasonStopped:
		b.WriteString(" was killed because the upgrade was stopped")
	case ReasonProtocol:
		b.WriteString(" broke the handshake")
	default:
		b.WriteString(" failed")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *ChildError) exitDescription() string {
	if e.Signal != "" {
		return "was killed by signal " + e.Signal
	}
	return "exited with status " + strconv.Itoa(e.ExitCode)
}

func (e *ChildError) Unwrap() error { return e.Err }

// DrainingError is returned by Upgrade when as many older generations as
// Options.MaxDraining allows are still draining: another handover now
// would leave one more process holding connections.
type DrainingError struct {
	// Pids of the generations still draining, oldest first.
	Pids []int
	// Max is Options.MaxDraining.
	Max int
}

func (e *DrainingError) Error() string {
	pids := make([]string, len(e.Pids))
	for i, p := range e.Pids {
		pids[i] = strconv.Itoa(p)
	}
	return fmt.Sprintf("upgrade: refused: %d older generation(s) still draining (pid %s) and at most %d may drain at once",
		len(e.Pids), strings.Join(pids, ", "), e.Max)
}
