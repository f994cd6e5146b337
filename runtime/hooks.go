package runtime

import (
	"context"
	"errors"
	"fmt"
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

// hook is a module with a Start or a Stop, and where it is configured.
type hook struct {
	mod      Module
	name     string // the module's name
	listener string
}

// addHook records mod, just provisioned, if it has a Start or a Stop.
func (ctx Context) addHook(mod Module, name string) {
	_, starts := mod.(Starter)
	_, stops := mod.(Stopper)
	if starts || stops {
		ctx.load.hooks = append(ctx.load.hooks, hook{mod: mod, name: name, listener: ctx.listener})
	}
}

// start calls Start on every module that has one, in the order they were
// provisioned (a module after those nested in it, a listener's wrappers
// before its listener module). If one fails, the modules before it are
// stopped, newest first, and the error names the module.
func (l *loaded) start(ctx context.Context) error {
	for i, h := range l.state.hooks {
		s, ok := h.mod.(Starter)
		if !ok {
			continue
		}
		if err := s.Start(ctx); err != nil {
			err = fmt.Errorf("listener %q: starting module %q: %w", h.listener, h.name, err)
			return errors.Join(err, stopHooks(context.Background(), l.state.hooks[:i]))
		}
	}
	l.started = true
	return nil
}

// stop calls Stop on every module that has one, newest first, once, if
// start succeeded. It returns what they returned, joined.
func (l *loaded) stop(ctx context.Context) error {
	if !l.started {
		return nil
	}
	l.started = false
	return stopHooks(ctx, l.state.hooks)
}

func stopHooks(ctx context.Context, hooks []hook) error {
	var errs []error
	for i := len(hooks) - 1; i >= 0; i-- {
		h := hooks[i]
		if s, ok := h.mod.(Stopper); ok {
			if err := s.Stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("listener %q: stopping module %q: %w", h.listener, h.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// stopModules calls the Stop hooks when this generation starts to drain,
// and logs what they return.
func (l *loaded) stopModules(ctx context.Context) {
	if err := l.stop(ctx); err != nil {
		l.log.Warn("a module did not stop cleanly", "error", err)
	}
}
