package flipd

import (
	"context"

	"github.com/flipd/flipd/internal/modstate"
)

// Starter is implemented by modules with work to do before their
// generation serves, which must not happen when a config is only
// validated: obtaining certificates, starting timers, connecting to
// something that accepts one client only. The runtime calls Start only
// in the generation about to serve, after every listener's socket is
// open and wrapped and before any listener module serves; this
// generation reports ready only after every Start returned nil.
//
// An error fails the start-up: on a reload, the new generation exits and
// its error, which names the listener and module, is the reload's; the
// old generation keeps serving. ctx ends at upgrade.timeout.
type Starter interface {
	Start(ctx context.Context) error
}

// Stopper is implemented by modules that must know when their
// generation stops serving: to stop background work (certificate
// renewals, say) that the next generation takes over. The runtime calls
// Stop once, when this generation starts to drain (a new one has taken
// over, or it was told to stop), before the listener modules' Drain: a
// connection may still be accepted in between, and is served as usual.
// Stop is also called when a later module's Start, or a listener's
// Serve, fails the start-up. It must return soon: ctx ends at the drain's
// deadline. An error is logged.
type Stopper interface {
	Stop(ctx context.Context) error
}

// addHook records mod, just provisioned, if it has a Start or a Stop.
func (ctx Context) addHook(mod Module, name string) {
	_, starts := mod.(Starter)
	_, stops := mod.(Stopper)
	if starts || stops {
		ctx.load.Hooks = append(ctx.load.Hooks, modstate.Hook{Mod: mod, Name: name, Listener: ctx.listener})
	}
}
