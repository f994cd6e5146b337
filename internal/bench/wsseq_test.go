package bench

import (
	"bytes"
	"testing"
	"time"
)

func TestEchoesAreCountedAsInOrderDuplicatedReorderedOrLost(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sent     int
		echoes   []uint64
		verdicts []echoVerdict
		want     seqCounts
	}{
		{"every echo in order", 4, []uint64{0, 1, 2, 3},
			[]echoVerdict{echoInOrder, echoInOrder, echoInOrder, echoInOrder},
			seqCounts{Sent: 4, Echoed: 4}},
		{"the last two cut off", 5, []uint64{0, 1, 2},
			[]echoVerdict{echoInOrder, echoInOrder, echoInOrder},
			seqCounts{Sent: 5, Echoed: 3, LostCut: 2}},
		{"one lost in the middle", 4, []uint64{0, 2, 3},
			[]echoVerdict{echoInOrder, echoInOrder, echoInOrder},
			seqCounts{Sent: 4, Echoed: 3, LostGap: 1}},
		{"a gap and a cut", 6, []uint64{1, 3},
			[]echoVerdict{echoInOrder, echoInOrder},
			seqCounts{Sent: 6, Echoed: 2, LostGap: 2, LostCut: 2}},
		{"one twice", 3, []uint64{0, 1, 1, 2},
			[]echoVerdict{echoInOrder, echoInOrder, echoDuplicate, echoInOrder},
			seqCounts{Sent: 3, Echoed: 3, Duplicate: 1}},
		{"a late one fills its gap", 3, []uint64{0, 2, 1},
			[]echoVerdict{echoInOrder, echoInOrder, echoReordered},
			seqCounts{Sent: 3, Echoed: 3, Reordered: 1}},
		{"a late one, then again", 3, []uint64{2, 0, 0, 1},
			[]echoVerdict{echoInOrder, echoReordered, echoDuplicate, echoReordered},
			seqCounts{Sent: 3, Echoed: 3, Reordered: 2, Duplicate: 1}},
		{"an echo of a message never sent", 2, []uint64{0, 7, 1},
			[]echoVerdict{echoInOrder, echoUnsent, echoInOrder},
			seqCounts{Sent: 2, Echoed: 2, Unsent: 1}},
		{"nothing echoed", 3, nil, nil, seqCounts{Sent: 3, LostCut: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newSeqTracker()
			for i := range tc.sent {
				if seq := tr.next(); seq != uint64(i) {
					t.Fatalf("message %d numbered %d", i, seq)
				}
			}
			for i, seq := range tc.echoes {
				if got := tr.echo(seq); got != tc.verdicts[i] {
					t.Errorf("echo %d (message %d): verdict %d, want %d", i, seq, got, tc.verdicts[i])
				}
			}
			got := tr.counts()
			if got != tc.want {
				t.Fatalf("counts %+v, want %+v", got, tc.want)
			}
			if out := tr.outstanding(); out != tc.want.Lost() {
				t.Fatalf("%d outstanding, want %d (every message lost)", out, tc.want.Lost())
			}
		})
	}
}

func TestAnEchoMustBeTheMessageSentOnItsConnectionByteForByte(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	msg := wsMessage(0x500000003, 42, at)
	seq, sent, err := parseWSMessage(0x500000003, msg)
	if err != nil || seq != 42 || !sent.Equal(at) {
		t.Fatalf("parse: %d, %v, %v; want 42, %v, nil", seq, sent, err, at)
	}
	for _, tc := range []struct {
		name  string
		id    uint64
		spoil func([]byte) []byte
	}{
		{"another connection's message", 0x500000004, func(b []byte) []byte { return b }},
		{"a byte changed", 0x500000003, func(b []byte) []byte { b[40] ^= 1; return b }},
		{"cut short", 0x500000003, func(b []byte) []byte { return b[:wsMsgLen-1] }},
		{"another message's body under this number", 0x500000003, func(b []byte) []byte {
			copy(b[24:], wsMessage(0x500000003, 43, at)[24:])
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := parseWSMessage(tc.id, tc.spoil(bytes.Clone(msg))); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestACounterStreamEchoIsVerifiedAndItsFaultsTold(t *testing.T) {
	stream := make([]byte, 4096)
	counterBytes(stream, 0)
	t.Run("in pieces of every size", func(t *testing.T) {
		var c streamChecker
		for off, n := 0, 1; off < len(stream); off, n = off+n, n%13+1 {
			end := min(off+n, len(stream))
			if bad, why, ok := c.check(stream[off:end]); !ok {
				t.Fatalf("bytes %d-%d: fault at %d: %s", off, end, bad, why)
			}
		}
	})
	for _, tc := range []struct {
		name    string
		echo    func() []byte
		wantOff int64
		want    streamVerdict
	}{
		{"a word skipped", func() []byte { return append(bytes.Clone(stream[:800]), stream[808:]...) }, 800, streamSkipped},
		{"a word repeated", func() []byte { return append(bytes.Clone(stream[:808]), stream[800:]...) }, 808, streamRepeated},
		// Bytes 803-805 are the high bytes of word 100, all 0: the
		// first wrong byte is 804, where the word's low byte lands.
		{"three bytes lost", func() []byte { return append(bytes.Clone(stream[:803]), stream[806:]...) }, 804, streamCorrupt},
		{"a byte flipped", func() []byte { b := bytes.Clone(stream); b[1001] ^= 0x80; return b }, 1001, streamCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c streamChecker
			echo := tc.echo()
			// Two reads, split inside the stream, as TCP would.
			c.check(echo[:500])
			off, why, ok := c.check(echo[500:])
			if ok || off != tc.wantOff || why != tc.want {
				t.Fatalf("fault at %d: %q (ok %v), want %d: %q", off, why, ok, tc.wantOff, tc.want)
			}
		})
	}
}
