package drain_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/flipd/flipd/drain"
)

type ctxKey string

// The drain's record of a connection is part of the connection's context
// (it is the context ConnContext returns): what the server's own
// BaseContext and ConnContext put there, and what net/http does, must
// reach the handler through it, and cancelling the base context must end
// the request's.
func TestRequestContextKeepsTheServersValuesAndCancellation(t *testing.T) {
	base, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey("base"), "b"))
	defer cancel()
	entered := make(chan struct{})
	got := make(chan error, 1)
	srv := &http.Server{
		ErrorLog:    log.New(io.Discard, "", 0),
		BaseContext: func(net.Listener) context.Context { return base },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, ctxKey("conn"), c.RemoteAddr().String())
		},
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		switch {
		case ctx.Value(ctxKey("base")) != "b":
			got <- errors.New("BaseContext's value is missing")
		case ctx.Value(ctxKey("conn")) != r.RemoteAddr:
			got <- errors.New("ConnContext's value is missing")
		case ctx.Value(http.ServerContextKey) != srv:
			got <- errors.New("net/http's ServerContextKey is missing")
		case ctx.Value(http.LocalAddrContextKey) == nil:
			got <- errors.New("net/http's LocalAddrContextKey is missing")
		case ctx.Err() != nil:
			got <- ctx.Err()
		default:
			close(entered)
			select {
			case <-ctx.Done():
				got <- nil
			case <-time.After(10 * time.Second):
				got <- errors.New("the request's context was not cancelled with the base context")
			}
		}
		io.WriteString(w, "ok")
	})
	d := drain.New(srv, drain.Options{})
	ln := listen(t)
	go d.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	go http.Get("http://" + ln.Addr().String() + "/")
	select {
	case <-entered:
		cancel()
	case err := <-got:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach the handler")
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}
