// Package flipdtest helps test flipd modules on their own: a logger whose
// output a test can read (and sees printed when it fails), loading a
// module from its JSON as the runtime does, and, on Linux, a [MoveSink]
// that moves a [flipd.ConnMover]'s connections to another server of the
// test's process as a reload moves them between generations.
package flipdtest

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
)

// Buffer collects log output; safe for concurrent writers.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// NewLogger returns a debug-level logger writing to a Buffer, whose
// contents are printed if t fails.
func NewLogger(t testing.TB) (hclog.Logger, *Buffer) {
	t.Helper()
	buf := new(Buffer)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", buf)
		}
	})
	return hclog.New(&hclog.LoggerOptions{Name: "test", Output: buf, Level: hclog.Debug}), buf
}

// Load provisions the module of namespace described by raw (its "module"
// key names it) as the runtime would, in generation 1 with a storage
// directory of its own; the module is cleaned up when t ends.
func Load(t testing.TB, logger hclog.Logger, namespace string, raw json.RawMessage) (flipd.Module, error) {
	t.Helper()
	ctx, cleanup := flipd.NewContext(context.Background(), logger, t.TempDir(), 1)
	t.Cleanup(func() {
		if err := cleanup(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return ctx.LoadModule(namespace, raw)
}
