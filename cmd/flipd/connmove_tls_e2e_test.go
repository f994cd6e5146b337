//go:build linux

package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/flipd/flipd/modules/flipdtls/tlstest"
)

// TLS terminated in flipd cannot move (its state is inside Go's
// crypto/tls), so such a connection drains, untouched: a reload must not
// even interrupt it, since a TLS write that times out half-way leaves
// the connection broken.
func TestAnEchoOverTLSHalfWayThroughALargeWriteDrainsUnbroken(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, dir, "site", tlstest.LeafOptions{Names: []string{"site.test"}})
	addr := freeAddr(t)
	config := fmt.Sprintf(`{"admin": {"disabled": true}, "upgrade": {"drain_timeout": "30s"}, "logging": {"level": "debug"}, "listeners": {
		"echo": {"address": "tcp/%s", "module": "tcp", "wrappers": [%s], "handle": {"module": "echo"}}}}`, addr, filesWrapper(leaf))
	d := startFlipd(t, config)
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "site.test", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The client sends 4 MB without reading: the echo's write back blocks.
	const size = 32 << 20
	big := make([]byte, size)
	pattern(8, 0, big)
	written := make(chan error, 1)
	go func() {
		c.SetWriteDeadline(time.Now().Add(60 * time.Second))
		_, err := c.Write(big)
		written <- err
	}()
	time.Sleep(300 * time.Millisecond)
	old := d.pid()
	d.reload(config)
	time.Sleep(300 * time.Millisecond)
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	got := make([]byte, size)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the echo back after the reload: %v; log:\n%s", err, d.log())
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("the echo over TLS differs")
	}
	if reaped(old, d.cmd) {
		t.Fatal("the old generation exited while its TLS connection was open")
	}
	c.Close()
	d.waitExit(old)
}
