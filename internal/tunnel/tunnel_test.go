package tunnel

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// Frames from RFC 6455 §5.7, and a Close frame.
var rfcFrames = [][]byte{
	{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f},                                 // unmasked "Hello"
	{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},         // masked "Hello"
	{0x01, 0x03, 0x48, 0x65, 0x6c},                                             // fragment "Hel"
	{0x80, 0x02, 0x6c, 0x6f},                                                   // and "lo"
	{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f},                                 // ping
	{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},         // masked pong
	append([]byte{0x82, 0x7e, 0x01, 0x00}, make([]byte, 256)...),               // 256 bytes
	append([]byte{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}, make([]byte, 65536)...), // 64 KiB
	closeFrame(closeGoingAway, true),
}

func TestFramesFindEveryBoundaryWhateverTheReadSizes(t *testing.T) {
	var stream []byte
	var ends []int // offsets where a frame ends
	for _, f := range rfcFrames {
		stream = append(stream, f...)
		ends = append(ends, len(stream))
	}
	for _, chunk := range []int{1, 2, 3, 7, 100, 4096, len(stream)} {
		var f frames
		var got []int
		for off := 0; off < len(stream); {
			n := min(chunk, len(stream)-off)
			if !f.atBoundary() {
				// Reading up to the boundary never crosses it.
				n = min(n, int(f.toBoundary()))
			}
			f.advance(stream[off : off+n])
			off += n
			if f.atBoundary() {
				got = append(got, off)
			}
		}
		// A read that ends exactly at a frame's end is seen; with larger
		// reads, boundaries inside a read are not, so compare the last.
		if chunk == 1 && !equalInts(got, ends) {
			t.Errorf("byte by byte: boundaries at %v, want %v", got, ends)
		}
		if !f.atBoundary() || got[len(got)-1] != len(stream) {
			t.Errorf("chunks of %d: not at a boundary at the end", chunk)
		}
		if !f.closed {
			t.Errorf("chunks of %d: the Close frame went unseen", chunk)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// pair returns the two ends of a loopback TCP connection.
func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// echoTunnel starts a raw tunnel whose backend echoes; it returns the
// client's end.
func echoTunnel(t *testing.T) (*Tunnel, net.Conn) {
	t.Helper()
	client, front := pair(t)
	back, server := pair(t)
	go io.Copy(server, server)
	tun := New(front, back, Options{ClientBuffered: []byte("buffered:")})
	go tun.Run()
	return tun, client
}

// stream writes n patterned bytes to c while moves happen; it checks the
// echo byte-exact.
func stream(t *testing.T, c net.Conn, n int, during func()) {
	t.Helper()
	want := make([]byte, n)
	for i := range want {
		want[i] = byte(i*31) ^ byte(i>>9)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		for off := 0; off < n; off += 8 << 10 {
			c.Write(want[off:min(n, off+8<<10)])
			time.Sleep(time.Millisecond)
		}
	}()
	during()
	got := make([]byte, len("buffered:")+n)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if !bytes.Equal(got, append([]byte("buffered:"), want...)) {
		t.Fatal("the echo differs from what was sent")
	}
}

func TestAMoveThatFailsResumesWithoutLosingAByte(t *testing.T) {
	tun, c := echoTunnel(t)
	stream(t, c, 1<<20, func() {
		for range 10 {
			time.Sleep(5 * time.Millisecond)
			err := tun.Move(func(_, _ net.Conn, _ []byte) error { return errors.New("refused") })
			if err == nil || err.Error() != "refused" {
				t.Errorf("Move: %v, want the function's error", err)
			}
		}
	})
}

func TestAResumedTunnelGoesOnByteExact(t *testing.T) {
	tun, c := echoTunnel(t)
	stream(t, c, 1<<20, func() {
		for range 5 {
			time.Sleep(5 * time.Millisecond)
			err := tun.Move(func(client, backend net.Conn, state []byte) error {
				next, err := Resume(client, backend, state, nil)
				if err != nil {
					return err
				}
				tun = next
				go next.Run()
				return nil
			})
			if err != nil {
				t.Fatalf("Move: %v", err)
			}
		}
	})
}

func TestResumeRefusesABadState(t *testing.T) {
	for _, state := range [][]byte{nil, {9, 0}, {stateVersion, 7}, {stateVersion, 0, 0, 0}} {
		if _, err := Resume(nil, nil, state, nil); err == nil {
			t.Errorf("Resume(%v) succeeded", state)
		}
	}
}
