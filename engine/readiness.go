package engine

import (
	"errors"
	"time"

	"github.com/flipd/flipd"
)

// ErrStopping is the answer to a reload or upgrade asked for while this
// generation waits out upgrade.shutdown_delay before draining for good.
var ErrStopping = errors.New("this generation is stopping (upgrade.shutdown_delay): it takes no reload; start flipd again instead")

// Readiness says what this generation tells a readiness probe now.
func (in *Instance) Readiness() flipd.Readiness {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.readinessLocked()
}

func (in *Instance) readinessLocked() flipd.Readiness {
	switch in.state {
	case StateStopping:
		return flipd.ReadinessStopping
	case StateDraining:
		// A generation drains after Stop or after a handover; a stop
		// that came during a handover was passed on to the new one.
		if in.stopAsked {
			return flipd.ReadinessDraining
		}
		return flipd.ReadinessHandedOver
	}
	return flipd.ReadinessReady
}

// refuseIfStopping returns ErrStopping during upgrade.shutdown_delay.
func (in *Instance) refuseIfStopping() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.state == StateStopping {
		return ErrStopping
	}
	return nil
}

// shutdownDelay is this generation's upgrade.shutdown_delay; in.mu is held.
func (in *Instance) shutdownDelay() time.Duration {
	return time.Duration(in.current.cfg.Upgrade.ShutdownDelay)
}
