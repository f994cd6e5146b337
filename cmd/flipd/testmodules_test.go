//go:build linux

package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"

	"github.com/flipd/flipd"
)

// asFlipdEnv makes this test binary run as flipd (see TestMain), with the
// modules below, which the real binary does not have.
const asFlipdEnv = "FLIPD_E2E_AS_FLIPD"

// failServe is a listener module whose Serve fails at once, as one that
// cannot set up its socket would.
type failServe struct {
	Message string `json:"message"`
}

func (*failServe) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "listeners.fail_serve", New: func() flipd.Module { return new(failServe) }}
}

func (f *failServe) Serve(ln net.Listener) error     { return errors.New(f.Message) }
func (f *failServe) Drain(ctx context.Context) error { return nil }

func init() { flipd.RegisterModule(new(failServe)) }

// startTestFlipd is startFlipd with this test binary as flipd: the
// modules of this file are available to config.
func startTestFlipd(t *testing.T, config string) *daemon {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(asFlipdEnv, "1") // inherited by every generation
	return launch(t, config, launchOptions{bin: self})
}

// plainEcho is an echo handler of the tcp module that does not implement
// tcp.MovableHandler: its connections drain, as every connection did
// before connections could move.
type plainEcho struct{}

func (*plainEcho) FlipdModule() flipd.ModuleInfo {
	return flipd.ModuleInfo{ID: "tcp.handlers.plain_echo", New: func() flipd.Module { return new(plainEcho) }}
}

func (*plainEcho) Handle(_ context.Context, conn net.Conn) error {
	_, err := io.Copy(conn, conn)
	return err
}

func init() { flipd.RegisterModule(new(plainEcho)) }
