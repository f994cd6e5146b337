package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// The ws mode's messages: each WebSocket client sends a numbered message
// every 100 ms and checks the echoes. A message is wsMsgLen bytes: the
// connection's id, its sequence number, the time it was sent (for the
// round trip), then bytes that depend on the id and the number, so that
// an echo carrying another message's bytes, or mangled ones, shows.
const wsMsgLen = 64

// wsMessage builds message seq of connection id, sent at sent.
func wsMessage(id, seq uint64, sent time.Time) []byte {
	b := make([]byte, wsMsgLen)
	binary.BigEndian.PutUint64(b[0:], id)
	binary.BigEndian.PutUint64(b[8:], seq)
	binary.BigEndian.PutUint64(b[16:], uint64(sent.UnixNano()))
	for i := 24; i < wsMsgLen; i++ {
		b[i] = byte(id*31 + seq*7 + uint64(i))
	}
	return b
}

// parseWSMessage checks that b is a message of connection id, byte for
// byte, and returns its sequence number and when it was sent.
func parseWSMessage(id uint64, b []byte) (seq uint64, sent time.Time, err error) {
	if len(b) != wsMsgLen {
		return 0, time.Time{}, fmt.Errorf("an echo of %d bytes, not %d", len(b), wsMsgLen)
	}
	if got := binary.BigEndian.Uint64(b); got != id {
		return 0, time.Time{}, fmt.Errorf("an echo of connection %#x's message on connection %#x", got, id)
	}
	seq = binary.BigEndian.Uint64(b[8:])
	sent = time.Unix(0, int64(binary.BigEndian.Uint64(b[16:])))
	if !bytes.Equal(b[24:], wsMessage(id, seq, sent)[24:]) {
		return seq, sent, fmt.Errorf("message %d's echo differs from what was sent", seq)
	}
	return seq, sent, nil
}

// echoVerdict is what one echo was.
type echoVerdict int

const (
	// echoInOrder is the next echo expected, or one after a gap.
	echoInOrder echoVerdict = iota
	// echoDuplicate is an echo of a message already echoed.
	echoDuplicate
	// echoReordered arrived after an echo of a later message, filling
	// a gap.
	echoReordered
	// echoUnsent names a message that was never sent.
	echoUnsent
)

// seqTracker counts one connection's messages: sent, echoed, and how
// each echo came (in order, twice, late). Safe for a sender and a
// receiver goroutine.
type seqTracker struct {
	mu      sync.Mutex
	sent    uint64
	got     []bool // by sequence number: echoed
	maxGot  int64  // the highest sequence number echoed, -1 for none
	echoed  int    // distinct messages echoed
	dup     int
	reorder int
	unsent  int
}

func newSeqTracker() *seqTracker { return &seqTracker{maxGot: -1} }

// next numbers the next message and counts it as sent; call it before
// writing the message, whose echo may come back before the write returns.
func (t *seqTracker) next() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.got = append(t.got, false)
	t.sent++
	return t.sent - 1
}

// echo records the echo of message seq and says what it was.
func (t *seqTracker) echo(seq uint64) echoVerdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case seq >= t.sent:
		t.unsent++
		return echoUnsent
	case t.got[seq]:
		t.dup++
		return echoDuplicate
	}
	t.got[seq] = true
	t.echoed++
	if int64(seq) < t.maxGot {
		t.reorder++
		return echoReordered
	}
	t.maxGot = int64(seq)
	return echoInOrder
}

// outstanding is how many messages sent have no echo yet.
func (t *seqTracker) outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return int(t.sent) - t.echoed
}

// seqCounts is what became of one connection's messages once it ended.
type seqCounts struct {
	Sent   int `json:"sent"`
	Echoed int `json:"echoed"`
	// LostGap counts messages never echoed although a later one was:
	// lost in the middle of a live stream, the worst kind.
	LostGap int `json:"lost_gap"`
	// LostCut counts messages sent after the last one echoed and never
	// echoed: in flight when the connection ended.
	LostCut   int `json:"lost_cut"`
	Duplicate int `json:"duplicate"`
	Reordered int `json:"reordered"`
	// Unsent counts echoes of messages never sent.
	Unsent int `json:"unsent"`
}

// Lost is every message sent and never echoed.
func (c seqCounts) Lost() int { return c.LostGap + c.LostCut }

// add sums counts.
func (c *seqCounts) add(o seqCounts) {
	c.Sent += o.Sent
	c.Echoed += o.Echoed
	c.LostGap += o.LostGap
	c.LostCut += o.LostCut
	c.Duplicate += o.Duplicate
	c.Reordered += o.Reordered
	c.Unsent += o.Unsent
}

// counts sums the connection up; every message not echoed by now is lost.
func (t *seqTracker) counts() seqCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := seqCounts{Sent: int(t.sent), Echoed: t.echoed, Duplicate: t.dup, Reordered: t.reorder, Unsent: t.unsent}
	for seq, ok := range t.got {
		switch {
		case ok:
		case int64(seq) < t.maxGot:
			c.LostGap++
		default:
			c.LostCut++
		}
	}
	return c
}
