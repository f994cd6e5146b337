package flipdhttp

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// h3Idle tracks the requests of each HTTP/3 connection, so that a drain
// can close the connections that stay silent after GOAWAY: clients are
// asked to close them then, but quic-go's own client does not always,
// and the generation would otherwise wait for their idle timeout.
type h3Idle struct {
	mu    sync.Mutex
	conns map[*quic.Conn]*h3ConnState
}

type h3ConnState struct {
	active int
	last   time.Time // a request began or ended, the connection opened, or was told GOAWAY
	goaway bool      // told GOAWAY
}

type h3ConnKey struct{}

func newH3Idle() *h3Idle { return &h3Idle{conns: map[*quic.Conn]*h3ConnState{}} }

// connContext is the http3.Server's ConnContext: it records c until it
// closes.
func (h *h3Idle) connContext(ctx context.Context, c *quic.Conn) context.Context {
	h.mu.Lock()
	h.conns[c] = &h3ConnState{last: time.Now()}
	h.mu.Unlock()
	context.AfterFunc(c.Context(), func() {
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
	})
	return context.WithValue(ctx, h3ConnKey{}, c)
}

// goaway records that c is told GOAWAY now: closeSilent may close it
// once it has been silent for the grace since.
func (h *h3Idle) goaway(c *quic.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st := h.conns[c]; st != nil {
		st.goaway, st.last = true, time.Now()
	}
}

// track counts a request as active on its connection while it runs.
func (h *h3Idle) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(h3ConnKey{}).(*quic.Conn)
		h.touch(c, 1)
		defer h.touch(c, -1)
		next.ServeHTTP(w, r)
	})
}

func (h *h3Idle) touch(c *quic.Conn, delta int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st := h.conns[c]; st != nil {
		st.active += delta
		st.last = time.Now()
	}
}

// closeSilent closes, until done, every connection told GOAWAY that has
// had no request running for grace since: long enough for any request
// the client sent before it read the GOAWAY to arrive.
func (h *h3Idle) closeSilent(grace time.Duration, done <-chan struct{}) {
	began := time.Now()
	tick := time.NewTicker(min(grace/4+time.Millisecond, 100*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		if time.Since(began) < grace {
			continue
		}
		var silent []*quic.Conn
		h.mu.Lock()
		for c, st := range h.conns {
			if st.goaway && st.active == 0 && time.Since(st.last) >= grace {
				silent = append(silent, c)
			}
		}
		h.mu.Unlock()
		for _, c := range silent {
			c.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "drained")
		}
	}
}
