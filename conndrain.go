package flipd

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Drain stops accepting at once, closing every listener given to Serve,
// calls OnDrain, and lets the open connections end by themselves. When
// ctx ends first, it closes the connections left, ends their handlers'
// contexts, and returns an error that says how many connections it
// closed and wraps ctx.Err().
func (s *ConnServer) Drain(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	first := !s.draining
	s.draining = true
	if first {
		close(s.stop)
		for ln := range s.lns {
			ln.Close()
		}
	}
	s.mu.Unlock()
	if first {
		s.Logger.Info("draining", "open_conns", s.conns.Len())
		if s.OnDrain != nil {
			s.OnDrain()
		}
	}

	// Once the accept loops are out, every connection they accepted is
	// tracked, so the wait below cannot miss one.
	if err := waitCtx(ctx, &s.serving); err != nil {
		s.cancel()
		return errors.Join(fmt.Errorf("an accept loop was still running when the drain ended: %w", err), s.conns.Drain(ctx))
	}
	// The handlers' contexts end only once conns.Drain has closed what
	// is left: ending them first would let handlers close their own
	// connections, and the count in the error would miss them.
	if err := s.conns.Drain(ctx); err != nil {
		s.cancel()
		s.Logger.Warn("drain deadline passed; closed connections", "error", err)
		return err
	}
	// Every connection is closed; the handlers are returning.
	if err := waitCtx(ctx, &s.running); err != nil {
		s.cancel()
		n := s.handlers.Load()
		return fmt.Errorf("%d %s still running when the drain ended: %w", n, plural(n, "handler"), err)
	}
	s.cancel()
	s.Logger.Info("drained")
	return nil
}

// waitCtx waits for wg, or until ctx ends.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func plural(n int64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
