package upgrade

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// The status line comes from another process: whatever it holds, the
// reader returns a valid status or an error, and never panics.
func FuzzReadStatus(f *testing.F) {
	f.Add([]byte(`{"status":"ready","pid":1300}` + "\n"))
	f.Add([]byte(`{"status":"error","pid":1300,"error":"bad config"}` + "\n"))
	f.Add([]byte(`{"status":"error","pid":1,"error":"` + strings.Repeat("x", 5<<10) + `"}` + "\n")) // over the old 4 KiB
	f.Add([]byte(`{"status":"ready"`))
	f.Add([]byte(`{"status":"socket","pid":1300,"path":"/run/app.sock","ino":42}` + "\n"))
	f.Add([]byte("\n"))
	f.Add([]byte(`{"status":"maybe"}` + "\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := readStatus(bytes.NewReader(b))
		if err != nil {
			if errors.Is(err, io.EOF) && len(b) != 0 {
				t.Fatalf("io.EOF for %d bytes", len(b))
			}
			return
		}
		if msg.Status != statusReady && msg.Status != statusError && (msg.Status != statusSocket || msg.Path == "") {
			t.Fatalf("accepted status %q", msg.Status)
		}
		if i := bytes.IndexByte(b, '\n'); i < 0 || i >= maxStatusLine {
			t.Fatalf("accepted a line without its end within %d bytes", maxStatusLine)
		}
		// What a child writes, the parent reads back the same.
		line, err := encodeStatus(msg)
		if err != nil {
			t.Fatal(err)
		}
		again, err := readStatus(bytes.NewReader(line))
		if err != nil || len(line) < maxStatusLine-1 && again != msg {
			t.Fatalf("round trip of %+v: %+v, %v", msg, again, err)
		}
	})
}

// Whatever a handshake document holds, the decoder returns a document
// whose descriptors are safe to adopt, or an error, and never panics.
func FuzzDecodeHandshake(f *testing.F) {
	f.Add([]byte(`{"version":1,"generation":2,"parent_pid":1234,"executable":"/usr/bin/app",` +
		`"files":[{"kind":"listener","network":"tcp","addr":"127.0.0.1:8080","fd":6},{"kind":"fd","addr":"state","fd":7}],` +
		`"draining":[{"pid":1234,"generation":1,"started":"2026-01-02T03:04:05Z","fd":5}],"payload":"eyJhIjoxfQ=="}`))
	f.Add([]byte(`{"version":1,"generation":2,"parent_pid":1,"files":[{"kind":"listener","fd":3}]}`))
	f.Add([]byte(`{"version":1,"generation":2,"files":[{"kind":"conn","fd":6},{"kind":"packet","fd":6}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"generation":2,"payload":"!!"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		hs, err := decodeHandshake(bytes.NewReader(b))
		if err != nil {
			return
		}
		if hs.Version != protocolVersion || hs.Generation < 2 {
			t.Fatalf("accepted version %d, generation %d", hs.Version, hs.Generation)
		}
		seen := map[int]bool{}
		var fds []int
		for _, f := range hs.Files {
			fds = append(fds, f.FD)
		}
		for _, d := range hs.Draining {
			fds = append(fds, d.FD)
		}
		for _, fd := range fds {
			if fd <= fdStatus || seen[fd] {
				t.Fatalf("accepted descriptor %d (reserved or used twice)", fd)
			}
			seen[fd] = true
		}
		// A parent of this build encodes it so that the decoder takes it.
		doc, err := json.Marshal(hs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeHandshake(bytes.NewReader(doc)); err != nil {
			t.Fatalf("re-encoded document refused: %v", err)
		}
	})
}

// A message longer than a status line may be is cut, not sent whole to
// break the handshake; escaping (a '<' becomes six bytes) counts.
func TestStatusLongerThanALineIsCut(t *testing.T) {
	for _, s := range []string{strings.Repeat("x", 100<<10), strings.Repeat("<", 20<<10)} {
		line, err := encodeStatus(statusMsg{Status: statusError, Pid: 1, Error: s})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := readStatus(bytes.NewReader(line))
		if err != nil || !strings.HasSuffix(msg.Error, " ... (cut)") || !strings.HasPrefix(s, strings.TrimSuffix(msg.Error, " ... (cut)")) {
			t.Fatalf("a %d-byte message: %.100q, %v", len(s), msg.Error, err)
		}
	}
}
