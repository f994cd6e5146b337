package engine

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/flipd/flipd"
)

// fakeAdmin is an admin API server that records StopAccepting.
type fakeAdmin struct {
	mu      sync.Mutex
	ln      net.Listener
	stopped atomic.Bool
}

func (a *fakeAdmin) Serve(ln net.Listener) error {
	a.mu.Lock()
	a.ln = ln
	a.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil
		}
		c.Close()
	}
}

func (a *fakeAdmin) Drain(context.Context) error { a.close(); return nil }

func (a *fakeAdmin) StopAccepting() { a.stopped.Store(true); a.close() }

func (a *fakeAdmin) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ln != nil {
		a.ln.Close()
	}
}

// A reload that hands over has the admin API stop accepting before it
// returns (and so before the admin API answers it); one that fails
// leaves it accepting.
func TestAReloadThatHandsOverStopsTheAdminAPIAccepting(t *testing.T) {
	admin := &fakeAdmin{}
	config := `{"admin": {"listen": "127.0.0.2:0"}, "storage": {"dir": "` + t.TempDir() + `"},
		"listeners": {"t": {"address": "tcp/127.0.0.1:0", "module": "test", "greeting": "hi"}}}`
	in := startOn(t, newFakeUpgrader(1), config, Options{
		Admin: func(*Instance, AdminConfig) (flipd.Server, error) { return admin, nil },
	})
	if _, err := in.Reload([]byte(`{"listeners": {`), ReloadOptions{Source: "api"}); err == nil {
		t.Fatal("an invalid config reloaded")
	}
	if admin.stopped.Load() {
		t.Fatal("a reload that failed stopped the admin API accepting")
	}
	if _, err := in.Reload([]byte(config), ReloadOptions{Source: "api"}); err != nil {
		t.Fatal(err)
	}
	if !admin.stopped.Load() {
		t.Error("the reload returned, to be answered, with the admin API still accepting")
	}
}
