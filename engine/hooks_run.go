package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/internal/modstate"
)

// start calls Start on every module that has one, in the order they were
// provisioned (a module after those nested in it, a listener's wrappers
// before its listener module). If one fails, the modules before it are
// stopped, newest first, and the error names the module.
func (l *loaded) start(ctx context.Context) error {
	for i, h := range l.state.Hooks {
		s, ok := h.Mod.(flipd.Starter)
		if !ok {
			continue
		}
		if err := s.Start(ctx); err != nil {
			err = fmt.Errorf("listener %q: starting module %q: %w", h.Listener, h.Name, err)
			return errors.Join(err, stopHooks(context.Background(), l.state.Hooks[:i]))
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
	return stopHooks(ctx, l.state.Hooks)
}

func stopHooks(ctx context.Context, hooks []modstate.Hook) error {
	var errs []error
	for i := len(hooks) - 1; i >= 0; i-- {
		h := hooks[i]
		if s, ok := h.Mod.(flipd.Stopper); ok {
			if err := s.Stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("listener %q: stopping module %q: %w", h.Listener, h.Name, err))
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
