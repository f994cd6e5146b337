package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/flipd/flipd/drain"
	"github.com/flipd/flipd/modules/flipdhttp"
)

// ServeConfig is a server that flipd's throughput is compared with.
type ServeConfig struct {
	Addr string `json:"addr"`
	Body string `json:"body"`
	// Variant adds flipd's layers to the bare server one by one, to find
	// what costs throughput: "" (bare), "timeouts" (the http module's
	// default timeouts), "drain" (those, and drain around it).
	Variant string `json:"variant,omitempty"`
	// StatsAddr, if set, answers the process's count of heap
	// allocations (mallocs.go), on a listener of its own so that the
	// server measured keeps its one handler.
	StatsAddr string `json:"stats_addr,omitempty"`
}

// serveBare serves Body on Addr with flipd's own static_response handler
// in a plain http.Server, no routes and no drain around it (unless
// Variant asks), until stop.
func serveBare(cfg ServeConfig, stop <-chan struct{}, say func(string)) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: &flipdhttp.StaticResponse{Status: http.StatusOK, Body: cfg.Body}}
	serve := srv.Serve
	switch cfg.Variant {
	case "":
	case "timeouts", "drain":
		srv.ReadHeaderTimeout, srv.IdleTimeout = flipdhttp.DefaultReadHeaderTimeout, flipdhttp.DefaultIdleTimeout
		srv.MaxHeaderBytes = flipdhttp.DefaultMaxHeaderBytes
		if cfg.Variant == "drain" {
			// As the http module serves a plaintext listener: the
			// drain enforces the two timeouts.
			serve = drain.New(srv, drain.Options{OwnTimeouts: true}).Serve
		}
	default:
		return fmt.Errorf("serve: unknown variant %q", cfg.Variant)
	}
	if cfg.StatsAddr != "" {
		sln, err := net.Listen("tcp", cfg.StatsAddr)
		if err != nil {
			ln.Close()
			return err
		}
		stats := &http.Server{Handler: http.HandlerFunc(serveMallocs)}
		go stats.Serve(sln)
		defer stats.Close()
	}
	done := make(chan error, 1)
	go func() { done <- serve(ln) }()
	say("ready")
	select {
	case <-stop:
		ctx, cancel := contextWithTimeout(time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
		return nil
	case err := <-done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
