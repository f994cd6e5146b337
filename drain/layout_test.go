package drain

import (
	"context"
	"net"
	"net/http"
	"testing"
	"unsafe"
)

// TestWhatARequestReadsSharesCacheLines keeps the fields every request
// reads where the structs' comments say they are: a new field put among
// them would spread them over one more cache line, a miss of its own on
// a core other processes share, which no functional test would notice.
func TestWhatARequestReadsSharesCacheLines(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layout is laid out for 64-bit platforms")
	}
	const line = 64
	var d Server
	serverHot := map[string]uintptr{
		"srv":           unsafe.Offsetof(d.srv),
		"h2":            unsafe.Offsetof(d.h2),
		"mover":         unsafe.Offsetof(d.mover),
		"lazy":          unsafe.Offsetof(d.lazy),
		"headerTimeout": unsafe.Offsetof(d.headerTimeout),
		"idleTimeout":   unsafe.Offsetof(d.idleTimeout),
		"draining":      unsafe.Offsetof(d.draining),
		"moveFailed":    unsafe.Offsetof(d.moveFailed),
		"own":           unsafe.Offsetof(d.own),
	}
	for name, off := range serverHot {
		if off >= line {
			t.Errorf("Server.%s at offset %d: not in the first cache line", name, off)
		}
	}
	if off := unsafe.Offsetof(d.tickets); off < 2*line-8 {
		t.Errorf("Server.tickets at offset %d: on a line next to the ones every request reads", off)
	}
	// Objects of a size class that is a multiple of 64 bytes begin on a
	// cache line; the Server's is 384.
	if size := unsafe.Sizeof(d); size > 384 || size <= 320 {
		t.Errorf("Server is %d bytes: no longer in the 384-byte size class", size)
	}

	var c handoffConn
	// Objects of the 384-byte size class begin on a cache line.
	if size := unsafe.Sizeof(c); size != 384 {
		t.Errorf("handoffConn is %d bytes, not 384: its lines no longer begin on cache lines", size)
	}
	first := map[string]uintptr{
		"Conn": unsafe.Offsetof(c.Conn), "d": unsafe.Offsetof(c.d), "ci": unsafe.Offsetof(c.ci),
		"mu": unsafe.Offsetof(c.mu), "fast": unsafe.Offsetof(c.fast), "moved": unsafe.Offsetof(c.moved),
		"listed": unsafe.Offsetof(c.listed),
	}
	for name, off := range first {
		if off >= line {
			t.Errorf("handoffConn.%s at offset %d: not in the first cache line", name, off)
		}
	}
	// Each field, from its offset to its end, and the lines it must lie in.
	type span struct{ off, size, from, to uintptr }
	info := unsafe.Offsetof(c.info)
	lines := map[string]span{
		"deadline": {unsafe.Offsetof(c.deadline), unsafe.Sizeof(c.deadline), 1, 2},
		"armed":    {unsafe.Offsetof(c.armed), unsafe.Sizeof(c.armed), 1, 2},
		"shift":    {unsafe.Offsetof(c.shift), unsafe.Sizeof(c.shift), 1, 2},
		"own":      {unsafe.Offsetof(c.own), unsafe.Sizeof(c.own), 1, 2},
		// What a request's two state changes write, on the third line.
		"info.state":  {info + unsafe.Offsetof(c.info.state), unsafe.Sizeof(c.info.state), 2, 3},
		"info.proto":  {info + unsafe.Offsetof(c.info.proto), unsafe.Sizeof(c.info.proto), 2, 3},
		"info.ticket": {info + unsafe.Offsetof(c.info.ticket), unsafe.Sizeof(c.info.ticket), 2, 3},
		"info.since":  {info + unsafe.Offsetof(c.info.since), unsafe.Sizeof(c.info.since), 2, 3},
		// What the handler wrapper writes, on the third and fourth.
		"info.cw": {info + unsafe.Offsetof(c.info.cw), unsafe.Sizeof(c.info.cw), 2, 4},
		"info.hc": {info + unsafe.Offsetof(c.info.hc), unsafe.Sizeof(c.info.hc), 2, 4},
	}
	for name, f := range lines {
		if end := f.off + f.size; f.off < f.from*line || end > f.to*line {
			t.Errorf("handoffConn.%s at offsets %d to %d: not in bytes %d to %d", name, f.off, end, f.from*line, f.to*line)
		}
	}
}

// A plaintext connection's record lives in its wrapper and is its
// context: tracking it allocates nothing beyond the wrapper, and a
// handler finds the record without a node of its own in the chain.
func TestAWrappedConnectionsRecordIsItsContext(t *testing.T) {
	srv := &http.Server{}
	d := New(srv, Options{})
	base := context.Background()
	var hc *handoffConn
	var ctx context.Context
	allocs := testing.AllocsPerRun(1000, func() {
		hc = newHandoffConn(instantConn{}, d)
		ctx = srv.ConnContext(base, hc)
		d.mu.Lock()
		delete(d.conns, net.Conn(hc)) // keeps the map from growing
		d.mu.Unlock()
	})
	if allocs > 1 {
		t.Errorf("wrapping and tracking a connection: %.0f allocations, want 1 (the wrapper)", allocs)
	}
	if ci, ok := ctx.(*connInfo); !ok || ci != &hc.info || hc.ci != ci {
		t.Fatalf("ConnContext returned %T %p, want the wrapper's record %p (hc.ci %p)", ctx, ctx, &hc.info, hc.ci)
	}
	if v := ctx.Value(connInfoKey{}); v != &hc.info {
		t.Errorf("Value(connInfoKey{}) = %v, want the wrapper's record", v)
	}
}
