package drain_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// maxStreamID is the largest HTTP/2 stream ID, 2^31-1: a GOAWAY naming it
// is the shutdown notice of RFC 9113 §6.8, which refuses no stream.
const maxStreamID = 1<<31 - 1

var transports = []struct {
	name string
	tls  bool
}{
	{"h2 over tls", true},
	{"h2c", false},
}

// TestHTTP2DrainRefusesNoStream checks the order of RFC 9113 §6.8: when
// the drain begins, the server first sends GOAWAY with the largest stream
// ID and a PING; a stream the client opens before it answers the PING is
// served, not refused; only after the PING's answer comes the final
// GOAWAY, naming that stream as the last.
func TestHTTP2DrainRefusesNoStream(t *testing.T) {
	for _, tt := range transports {
		// On a busy connection a stream stays open through the drain; an
		// idle one has none when the drain begins, nor after its one
		// stream, so net/http would send its final GOAWAY at once if the
		// http.Server were shutting down already.
		t.Run(tt.name+"/busy", func(t *testing.T) { testDrainRefusesNoStream(t, tt.tls, true) })
		t.Run(tt.name+"/idle", func(t *testing.T) { testDrainRefusesNoStream(t, tt.tls, false) })
	}
}

func testDrainRefusesNoStream(t *testing.T, useTLS, busy bool) {
	cert, pool := selfSigned(t)
	ln := listen(t)
	slow, entered, release := blocking(t)
	mux := http.NewServeMux()
	mux.Handle("/slow", slow)
	mux.Handle("/", echo)
	d := newH2Server(t, ln, useTLS, cert, mux.ServeHTTP)

	c := dialRawH2(t, ln.Addr().String(), useTLS, pool)
	if busy {
		c.get(1, "/slow") // keeps the connection busy through the drain
		<-entered
	}

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- d.Shutdown(ctx)
	}()

	control := func(f h2Frame) bool {
		return (f.typ == http2.FrameGoAway) || (f.typ == http2.FramePing && !f.ack)
	}
	notice := c.next("the shutdown notice", control)
	if notice.typ != http2.FrameGoAway || notice.lastID != maxStreamID || notice.code != http2.ErrCodeNo {
		t.Fatalf("first control frame of the drain: %v last stream %d, %v; want GOAWAY last stream %d, NO_ERROR",
			notice.typ, notice.lastID, notice.code, uint32(maxStreamID))
	}
	ping := c.next("the PING after the notice", control)
	if ping.typ != http2.FramePing {
		t.Fatalf("after the notice: %v last stream %d; want PING", ping.typ, ping.lastID)
	}

	// The client has not seen the notice yet: it opens two more streams,
	// one after the other, which are served while the PING waits for its
	// answer, without a final GOAWAY yet.
	if !busy {
		// Long enough for the drain, with no HTTP/1 connection to wait
		// for, to reach the http.Server's Shutdown before stream 3 ends.
		time.Sleep(100 * time.Millisecond)
	}
	for _, id := range []uint32{3, 5} {
		c.get(id, "/fast")
		c.next(fmt.Sprintf("the end of stream %d", id), func(f h2Frame) bool {
			switch {
			case f.typ == http2.FrameGoAway:
				t.Fatalf("a GOAWAY (last stream %d) before the client answered the PING", f.lastID)
			case f.typ == http2.FramePing && !f.ack:
				t.Fatal("a second PING from the drain")
			case f.typ == http2.FrameRSTStream && f.streamID == id:
				t.Fatalf("stream %d, opened before the client answered the PING, was reset: %v", id, f.code)
			case f.typ == http2.FrameHeaders && f.streamID == id && f.status != "200":
				t.Fatalf("stream %d answered %s, want 200", id, f.status)
			}
			return f.streamID == id && f.endStrm
		})
	}
	if err := c.fr.WritePing(true, ping.ping); err != nil {
		t.Fatal(err)
	}
	final := c.next("the final GOAWAY", func(f h2Frame) bool {
		if f.typ == http2.FramePing && !f.ack {
			t.Fatal("a second PING from the drain")
		}
		return f.typ == http2.FrameGoAway
	})
	if final.lastID != 5 || final.code != http2.ErrCodeNo {
		t.Errorf("final GOAWAY: last stream %d, %v; want 5, NO_ERROR", final.lastID, final.code)
	}

	if busy {
		release()
		c.next("the answer to stream 1", func(f h2Frame) bool {
			if f.typ == http2.FrameRSTStream && f.streamID == 1 {
				t.Fatalf("stream 1 was reset: %v", f.code)
			}
			return f.typ == http2.FrameHeaders && f.streamID == 1
		})
	}
	c.waitClosed(func(f h2Frame) bool { return f.typ != http2.FrameGoAway && f.typ != http2.FramePing })
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestHTTP2DrainWithoutPingAnswer checks that a client that never answers
// the PING still gets the final GOAWAY, after a bound, and that the
// connection then ends once its stream is done.
func TestHTTP2DrainWithoutPingAnswer(t *testing.T) {
	for _, tt := range transports {
		t.Run(tt.name, func(t *testing.T) {
			cert, pool := selfSigned(t)
			ln := listen(t)
			slow, entered, release := blocking(t)
			d := newH2Server(t, ln, tt.tls, cert, slow.ServeHTTP)
			c := dialRawH2(t, ln.Addr().String(), tt.tls, pool)
			c.get(1, "/slow")
			<-entered

			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				done <- d.Shutdown(ctx)
			}()
			isGoaway := func(f h2Frame) bool { return f.typ == http2.FrameGoAway }
			if f := c.next("the shutdown notice", isGoaway); f.lastID != maxStreamID {
				t.Fatalf("first GOAWAY names stream %d, want %d", f.lastID, uint32(maxStreamID))
			}
			if f := c.next("the final GOAWAY", isGoaway); f.lastID != 1 {
				t.Fatalf("final GOAWAY names stream %d, want 1", f.lastID)
			}
			release()
			c.next("the answer to stream 1", func(f h2Frame) bool { return f.typ == http2.FrameHeaders && f.streamID == 1 })
			c.waitClosed(func(f h2Frame) bool { return f.typ != http2.FrameGoAway })
			if err := <-done; err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}
