package runtime

import (
	"errors"
	"time"
)

// Readiness is what a generation tells a readiness probe: whether the
// service it belongs to should get new requests.
type Readiness string

// What Readiness reports.
const (
	// ReadinessReady: this generation serves (or starts, in a reload:
	// the one it replaces still serves).
	ReadinessReady Readiness = "ready"
	// ReadinessHandedOver: this generation drains because a newer one
	// took over. The service is ready: a new connection reaches the new
	// generation, which took the sockets.
	ReadinessHandedOver Readiness = "handed_over"
	// ReadinessStopping: told to stop for good, this generation serves on
	// for upgrade.shutdown_delay, so that load balancers stop sending.
	ReadinessStopping Readiness = "stopping"
	// ReadinessDraining: stopping for good, this generation drains.
	ReadinessDraining Readiness = "draining"
)

// Ready reports whether a probe should count r as ready.
func (r Readiness) Ready() bool { return r == ReadinessReady || r == ReadinessHandedOver }

// ErrStopping is the answer to a reload or upgrade asked for while this
// generation waits out upgrade.shutdown_delay before draining for good.
var ErrStopping = errors.New("this generation is stopping (upgrade.shutdown_delay): it takes no reload; start flipd again instead")

// Readiness says what this generation tells a readiness probe now.
func (in *Instance) Readiness() Readiness {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.readinessLocked()
}

func (in *Instance) readinessLocked() Readiness {
	switch in.state {
	case StateStopping:
		return ReadinessStopping
	case StateDraining:
		// A generation drains after Stop or after a handover; a stop
		// that came during a handover was passed on to the new one.
		if in.stopAsked {
			return ReadinessDraining
		}
		return ReadinessHandedOver
	}
	return ReadinessReady
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

// Readiness reports what the generation that serves this config tells a
// readiness probe now (see [Instance.Readiness]); modules such as the
// http module's "health" handler answer with it. While a config is only
// being validated, and in a Context from [NewContext], it reports
// ReadinessReady.
func (ctx Context) Readiness() Readiness {
	if ctx.load.readiness == nil {
		return ReadinessReady
	}
	return ctx.load.readiness()
}

// shutdownDelay is this generation's upgrade.shutdown_delay; in.mu is held.
func (in *Instance) shutdownDelay() time.Duration {
	return time.Duration(in.current.cfg.Upgrade.ShutdownDelay)
}
