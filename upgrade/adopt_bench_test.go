//go:build linux

package upgrade

import (
	"net"
	"testing"
)

// BenchmarkAdoptListener measures what one inherited listener costs a
// new generation (taking it: os.NewFile and net.FileListener) and the
// old one (closing its copies): the part of a handover that grows with
// the number of listeners.
func BenchmarkAdoptListener(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	key := fdKey{kindListener, "tcp", "127.0.0.1:0"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fd, err := dupConn(ln.(Listener)) // as the parent passes it
		if err != nil {
			b.Fatal(err)
		}
		e := &entry{fd: fd}
		obj, err := objectFromEntry(e, key)
		if err != nil {
			b.Fatal(err)
		}
		obj.(net.Listener).Close()
		e.close()
	}
}
