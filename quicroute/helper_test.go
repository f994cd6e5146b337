//go:build linux

package quicroute_test

// The helper process: the test binary re-executes itself as an HTTP/3
// server built on package upgrade and this package, so that tests start
// real generations that share a real UDP socket.

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"golang.org/x/sys/unix"

	"github.com/flipd/flipd/quicroute"
	"github.com/flipd/flipd/upgrade"
)

const envHelper = "QUICROUTE_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(envHelper) != "" {
		os.Exit(helperMain())
	}
	// Drained generations are orphaned; they come back to us to be reaped.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	os.Exit(m.Run())
}

// helperMain serves HTTP/3 on HELPER_ADDR: "/" answers "gen=G pid=P",
// "/slow" streams for HELPER_SLOW, then does the same. SIGHUP upgrades.
// After a handover it waits HELPER_GOAWAY_DELAY, so that its connections
// keep sending requests through the newer generation, then drains.
func helperMain() int {
	// Tell the test who we are before anything else, so that it can kill
	// every generation it started, whatever state each is in.
	os.WriteFile(filepath.Join(os.Getenv("HELPER_PID_DIR"), strconv.Itoa(os.Getpid())), nil, 0o644)
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr})
	upg, err := upgrade.New(upgrade.Options{UpgradeTimeout: 10 * time.Second, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	defer upg.Stop()
	addr := os.Getenv("HELPER_ADDR")
	if a := os.Getenv("HELPER_ADDR_GEN2"); a != "" && upg.Generation() == 2 {
		addr = a // the config moved to another port
	}
	r, err := quicroute.New(upg, "udp", addr, quicroute.Options{
		Logger: log, DisableForwarding: os.Getenv("HELPER_NO_FORWARD") != "",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	if os.Getenv("HELPER_FAIL_GEN") == strconv.Itoa(upg.Generation()) {
		time.Sleep(500 * time.Millisecond) // read the shared socket a while, then die before ready
		return 3
	}
	cert, err := tls.LoadX509KeyPair(os.Getenv("HELPER_CERT"), os.Getenv("HELPER_KEY"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{http3.NextProtoH3}}
	ln, err := r.Transport().ListenEarly(tlsConf, &quic.Config{MaxIdleTimeout: 5 * time.Second, Allow0RTT: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	srv := &http3.Server{Handler: helperHandler(upg.Generation())}
	go srv.ServeListener(ln)
	if d, _ := time.ParseDuration(os.Getenv("HELPER_READY_DELAY")); d > 0 && upg.Generation() > 1 {
		time.Sleep(d) // serving, and reading the shared socket, but not ready yet
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP, syscall.SIGTERM)
	if err := upg.Ready(); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	fmt.Printf("READY %d %d %s\n", upg.Generation(), os.Getpid(), ln.Addr())
	go func() {
		for sig := range hup {
			if sig == syscall.SIGTERM {
				upg.Stop()
				return
			}
			if err := upg.Upgrade(); err != nil {
				fmt.Printf("UPGRADE-FAILED %d %v\n", upg.Generation(), err)
			} else {
				fmt.Printf("UPGRADED %d\n", upg.Generation())
			}
		}
	}()
	<-upg.Exit()
	if d, _ := time.ParseDuration(os.Getenv("HELPER_HANDOVER_DELAY")); d > 0 {
		time.Sleep(d) // still reading the shared socket after the upgrade returned
	}
	fmt.Printf("HANDOVER %d %v\n", upg.Generation(), r.HandOver())
	delay, _ := time.ParseDuration(os.Getenv("HELPER_GOAWAY_DELAY"))
	time.Sleep(delay)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	open := r.OpenConns()
	ln.Close()
	r.Close()
	fmt.Printf("EXIT %d open=%d forwarded=%d\n", upg.Generation(), open, r.Stats().Forwarded)
	return 0
}

func helperHandler(gen int) http.Handler {
	mux := http.NewServeMux()
	id := fmt.Sprintf("gen=%d pid=%d", gen, os.Getpid())
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, id) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		d, _ := time.ParseDuration(os.Getenv("HELPER_SLOW"))
		for end := time.Now().Add(d); time.Now().Before(end); {
			fmt.Fprint(w, ".")
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
		fmt.Fprint(w, id)
	})
	return mux
}
