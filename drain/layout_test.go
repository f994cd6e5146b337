package drain

import (
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
	if size := unsafe.Sizeof(c); size != 192 {
		t.Errorf("handoffConn is %d bytes, not 192: its lines no longer begin on cache lines", size)
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
	// Each field of the second line, from its offset to its end.
	second := map[string][2]uintptr{
		"deadline": {unsafe.Offsetof(c.deadline), unsafe.Sizeof(c.deadline)},
		"armed":    {unsafe.Offsetof(c.armed), unsafe.Sizeof(c.armed)},
		"shift":    {unsafe.Offsetof(c.shift), unsafe.Sizeof(c.shift)},
		"own":      {unsafe.Offsetof(c.own), unsafe.Sizeof(c.own)},
	}
	for name, f := range second {
		if off, end := f[0], f[0]+f[1]; off < line || end > 2*line {
			t.Errorf("handoffConn.%s at offsets %d to %d: not in the second cache line", name, off, end)
		}
	}
}
