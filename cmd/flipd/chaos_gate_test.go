//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flipd/flipd/modules/flipdtls/tlstest"
)

// gate makes a generation's start as slow as a test wants, with nothing
// in flipd made for tests: a "tls" wrapper reads its cert_file from a
// FIFO, and every process that provisions the config (the first
// generation, a reload's validation in the serving generation, the new
// generation) blocks in that read until the gate writes the certificate.
// The gate answers each open at once, except the one it was told to hold.
type gate struct {
	t       *testing.T
	fifo    string
	cert    []byte
	wrapper string // the "tls" wrapper's JSON

	mu     sync.Mutex
	skip   int           // opens to answer before the held one
	armed  bool          // hold an open
	held   chan struct{} // an open is held
	resume chan struct{} // answer the held open
	opens  int
	closed bool
}

func newGate(t *testing.T) *gate {
	t.Helper()
	dir := t.TempDir()
	leaf := tlstest.NewCA(t, dir, "gate CA").Issue(t, dir, "gate", tlstest.LeafOptions{Names: []string{"gate.flipd.test"}})
	cert, err := os.ReadFile(leaf.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{t: t, fifo: filepath.Join(dir, "gate-fifo.crt"), cert: cert, held: make(chan struct{}, 1), resume: make(chan struct{})}
	if err := syscall.Mkfifo(g.fifo, 0o600); err != nil {
		t.Fatalf("making the FIFO that slows a generation's start: %v", err)
	}
	g.wrapper = fmt.Sprintf(`{"module": "tls", "certificates": [{"cert_file": %q, "key_file": %q}]}`, g.fifo, leaf.KeyFile)
	go g.serve()
	t.Cleanup(g.close)
	return g
}

func (g *gate) serve() {
	for {
		// Opening a FIFO to write blocks until a reader opens it: this
		// returns when some flipd process starts reading the certificate.
		f, err := os.OpenFile(g.fifo, os.O_WRONLY, 0)
		g.mu.Lock()
		if err != nil || g.closed {
			g.mu.Unlock()
			if f != nil {
				f.Close()
			}
			return
		}
		// A fresh FIFO for the next reader: this one's reader may still
		// hold it open after its EOF, and an open to write would then
		// return at once, counting a reader that is not there.
		os.Remove(g.fifo)
		if err := syscall.Mkfifo(g.fifo, 0o600); err != nil {
			g.t.Errorf("making the gate's next FIFO: %v", err)
		}
		g.opens++
		hold := g.armed && g.skip == 0
		if g.armed && !hold {
			g.skip--
		}
		if hold {
			g.armed = false
		}
		g.mu.Unlock()
		if hold {
			g.held <- struct{}{}
			<-g.resume
		}
		f.Write(g.cert) // a reader killed meanwhile: EPIPE, nothing to do
		f.Close()
	}
}

// holdAfter makes the gate hold the open that comes after skip more.
func (g *gate) holdAfter(skip int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed, g.skip = true, skip
}

// waitHeld waits until a process is blocked reading the certificate.
func (g *gate) waitHeld(d *daemon) {
	g.t.Helper()
	select {
	case <-g.held:
	case <-time.After(30 * time.Second):
		g.t.Fatalf("no generation came to read its certificate; log:\n%s", d.log())
	}
}

// release lets the held process read its certificate.
func (g *gate) release() { g.resume <- struct{}{} }

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	// Unblock serve's open with a reader of our own, and a held open.
	if f, err := os.OpenFile(g.fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
		time.Sleep(10 * time.Millisecond)
		f.Close()
	}
	select {
	case g.resume <- struct{}{}:
	default:
	}
}
