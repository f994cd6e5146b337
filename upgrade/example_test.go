package upgrade_test

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/flipd/flipd/drain"
	"github.com/flipd/flipd/upgrade"
)

// A net/http service that upgrades itself on SIGHUP without dropping a
// request.
func Example() {
	upg, err := upgrade.New(upgrade.Options{PIDFile: "/tmp/app.pid"})
	if err != nil {
		log.Fatal(err)
	}
	defer upg.Stop()

	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGHUP)
		for range sig {
			if err := upg.Upgrade(); err != nil {
				log.Println("upgrade failed; still serving:", err)
			}
		}
	}()

	ln, err := upg.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	srv := drain.New(&http.Server{Handler: http.NotFoundHandler()}, drain.Options{})
	go srv.Serve(ln)

	if err := upg.Ready(); err != nil {
		log.Fatal(err)
	}
	<-upg.Exit()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}

// A new generation reads what its parent passed, and can refuse to serve
// with a reason the parent's Upgrade returns.
func ExampleUpgrader_Fail() {
	upg, err := upgrade.New(upgrade.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if config := upg.Payload(); config != nil && !json.Valid(config) {
		upg.Fail(errors.New("config from generation " + strconv.Itoa(upg.Generation()-1) + " is not valid JSON"))
		os.Exit(1)
	}
}

// The parent learns why the new generation failed.
func ExampleChildError() {
	upg, err := upgrade.New(upgrade.Options{UpgradeTimeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	err = upg.UpgradeWith([]byte(`{"listeners": {}}`))
	var ce *upgrade.ChildError
	if errors.As(err, &ce) {
		switch ce.Reason {
		case upgrade.ReasonReported:
			log.Printf("generation %d refused: %s", ce.Generation, ce.Message)
		case upgrade.ReasonExited:
			log.Printf("generation %d died: exit %d, signal %q", ce.Generation, ce.ExitCode, ce.Signal)
		default:
			log.Print(err)
		}
	}
}
