// Command library-http shows a plain net/http service that upgrades itself
// without dropping a request, using upgrade for the socket handover
// and drain to let the old generation finish what it accepted.
// It is the shape of tableflip's own http example, with two changes: the
// import, and drain.Server instead of http.Server.Shutdown, which would
// drop requests racing the close of idle keep-alive connections.
//
// Run it, then upgrade it in place (a rebuilt binary at the same path is
// what the next generation runs):
//
//	go run ./examples/library-http -listen 127.0.0.1:8080 -pid-file /tmp/app.pid
//	curl http://127.0.0.1:8080/
//	kill -HUP $(cat /tmp/app.pid)   # a new generation takes over
//	kill -TERM $(cat /tmp/app.pid)  # drain and stop
//
// Every answer names the generation and pid that served it, so a client
// looping with curl sees the generation change and never an error.
// SIGHUP upgrades, and a failed upgrade leaves the running generation
// serving; SIGTERM and SIGINT stop the newest generation.
//
// On Windows upgrade.New returns upgrade.ErrNotSupported, and the program
// exits with that error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd/drain"
	"github.com/flipd/flipd/upgrade"
)

// maxBody bounds what a POST may send; the handler reads all of it.
const maxBody = 1 << 20

type config struct {
	listen       string
	pidFile      string
	drainTimeout time.Duration
	logLevel     string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.listen, "listen", "127.0.0.1:8080", "`address` to serve HTTP on")
	flag.StringVar(&cfg.pidFile, "pid-file", "", "`file` that names the pid of the serving generation")
	flag.DurationVar(&cfg.drainTimeout, "drain-timeout", 30*time.Second, "how long an old generation may drain before it closes what is left")
	flag.StringVar(&cfg.logLevel, "log-level", "info", "`level` of the log: trace, debug, info, warn or error")
	flag.Parse()

	level := hclog.LevelFromString(cfg.logLevel)
	if level == hclog.NoLevel {
		fmt.Fprintf(os.Stderr, "library-http: -log-level %q: want trace, debug, info, warn or error\n", cfg.logLevel)
		os.Exit(2)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "library-http", Output: os.Stderr, Level: level}).With("pid", os.Getpid())
	if err := run(cfg, log); err != nil {
		log.Error("exiting", "error", err)
		os.Exit(1)
	}
}

func run(cfg config, log hclog.Logger) error {
	upg, err := upgrade.New(upgrade.Options{PIDFile: cfg.pidFile, Logger: log.Named("upgrade")})
	if err != nil {
		return fmt.Errorf("starting upgrader: %w", err)
	}
	defer upg.Stop()
	log = log.With("generation", upg.Generation())

	// Before Ready, which writes the pid file: a SIGHUP sent as soon as the
	// pid file names this process must not kill it.
	handleSignals(upg, log)

	srv, err := serve(upg, cfg.listen, log)
	if err != nil {
		// Tell the parent why, so that its Upgrade fails with our reason
		// and it goes on serving.
		upg.Fail(err)
		return err
	}
	if err := upg.Ready(); err != nil {
		return fmt.Errorf("signalling readiness: %w", err)
	}
	log.Info("ready", "addr", cfg.listen, "has_parent", upg.HasParent())

	<-upg.Exit()
	log.Info("draining", "timeout", cfg.drainTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.drainTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("draining: %w", err)
	}
	log.Info("drained; exiting")
	return nil
}

// handleSignals upgrades on SIGHUP and stops on SIGTERM and SIGINT. They are
// handled apart, so that a stop abandons an upgrade still in flight.
func handleSignals(upg *upgrade.Upgrader, log hclog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			log.Info("upgrading")
			if err := upg.Upgrade(); err != nil {
				log.Error("upgrade failed; still serving", "error", err)
			}
		}
	}()

	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, os.Interrupt)
	go func() {
		for sig := range term {
			log.Info("stopping", "signal", sig)
			upg.Stop()
		}
	}()
}

// serve listens on addr, inheriting the parent's socket if there is one,
// and serves HTTP on it through a drain.Server.
func serve(upg *upgrade.Upgrader, addr string, log hclog.Logger) (*drain.Server, error) {
	ln, err := upg.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           handler(upg.Generation()),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	d := drain.New(srv, drain.Options{Logger: log.Named("drain")})
	go func() {
		if err := d.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			// Nothing serves any more: stop rather than linger.
			log.Error("http server failed", "error", err)
			upg.Stop()
		}
	}()
	return d, nil
}

// handler answers GET with the generation and pid that serve, and POST
// with the same and the length of the body it read.
func handler(generation int) http.Handler {
	pid := os.Getpid()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			fmt.Fprintf(w, "generation=%d pid=%d\n", generation, pid)
		case http.MethodPost:
			n, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBody))
			if err != nil {
				status := http.StatusBadRequest
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					status = http.StatusRequestEntityTooLarge
				}
				http.Error(w, fmt.Sprintf("reading body: %v", err), status)
				return
			}
			fmt.Fprintf(w, "generation=%d pid=%d bytes=%d\n", generation, pid, n)
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}
