package tunnel

import "testing"

// FuzzFrames checks that the frame parser reaches the same position
// whatever the read sizes, reads limited by toBoundary included (as when
// a tunnel finishes a frame before it ends).
func FuzzFrames(f *testing.F) {
	for _, fr := range rfcFrames {
		f.Add(fr, uint8(3))
	}
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		var one, many frames
		for _, b := range stream {
			one.advance([]byte{b})
		}
		for off := 0; off < len(stream); {
			n := min(int(chunk)+1, len(stream)-off)
			if !many.atBoundary() {
				n = int(min(uint64(n), many.toBoundary())) // lengths reach 2^64-1
			}
			many.advance(stream[off : off+n])
			off += n
		}
		if one != many {
			t.Fatalf("byte by byte %+v, in chunks %+v", one, many)
		}
	})
}
