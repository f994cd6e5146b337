package bench

import (
	"encoding/binary"
	"fmt"
)

// A counter stream is what each TCP stream of the ws mode writes: the
// numbers 0, 1, 2, ... as 8-byte big-endian words, so that any byte of
// it is known from its offset, and an echo that skipped, repeated or
// mangled bytes is caught at the first wrong one, and told apart.

// counterBytes fills b with the counter stream from offset off on.
func counterBytes(b []byte, off int64) {
	for i := range b {
		b[i] = counterByte(off + int64(i))
	}
}

// counterByte is the stream's byte at offset off.
func counterByte(off int64) byte {
	var w [8]byte
	binary.BigEndian.PutUint64(w[:], uint64(off/8))
	return w[off%8]
}

// streamVerdict is what a wrong byte in an echoed counter stream means.
type streamVerdict string

const (
	// streamSkipped: the word at the offset is a later one: bytes lost.
	streamSkipped streamVerdict = "skipped"
	// streamRepeated: the word is an earlier one: bytes sent twice, or
	// out of order.
	streamRepeated streamVerdict = "repeated"
	// streamCorrupt: anything else (a word cut in two, foreign bytes).
	streamCorrupt streamVerdict = "corrupt"
)

// streamChecker verifies an echoed counter stream as it arrives.
type streamChecker struct {
	off  int64   // the next offset expected
	word [8]byte // the word being read, to tell a wrong one apart
}

// check verifies b, the next bytes of the echo. It returns where the
// fault is (the offset of the wrong word if it is a whole word of the
// stream, skipped or repeated; else of the first wrong byte) and its
// kind, or ok.
func (c *streamChecker) check(b []byte) (bad int64, why streamVerdict, ok bool) {
	for i, x := range b {
		off := c.off + int64(i)
		c.word[off%8] = x
		if x == counterByte(off) {
			continue
		}
		// Read on to the end of the word, if b holds it, to name the
		// fault: a whole word from elsewhere in the stream, or not.
		start := off - off%8
		end := int(start + 8 - c.off) // where the word ends in b
		if end > len(b) {
			c.off += int64(len(b))
			return off, streamCorrupt, false
		}
		copy(c.word[off%8:], b[i:end])
		c.off += int64(len(b))
		if why := classifyWord(c.word, start); why != streamCorrupt {
			return start, why, false
		}
		return off, streamCorrupt, false
	}
	c.off += int64(len(b))
	return 0, "", true
}

// classifyWord names a wrong word found where word start/8 belonged.
func classifyWord(w [8]byte, start int64) streamVerdict {
	got, want := binary.BigEndian.Uint64(w[:]), uint64(start/8)
	// A word from this stream is a counter not far off (8 MB of stream
	// either way); bytes from elsewhere, or a word cut in two, are
	// rarely that.
	const near = 1 << 20
	switch {
	case got > want && got-want < near:
		return streamSkipped
	case got < want && want-got < near:
		return streamRepeated
	}
	return streamCorrupt
}

// streamFault describes a stream fault for a report.
func streamFault(off int64, why streamVerdict) string {
	return fmt.Sprintf("byte %d of the echo: %s", off, why)
}
