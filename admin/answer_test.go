package admin

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd/engine"
)

// The answer to a reload is on its way to the client before the request
// is logged: the log line is not part of the round trip a reload costs.
// The request's log line here waits until the client has the answer.
func TestAReloadIsAnsweredBeforeItsRequestIsLogged(t *testing.T) {
	answered := make(chan struct{})
	out := &gatedWriter{gate: answered, hold: "path=/load"}
	s, err := New(newFake(), engine.AdminConfig{Listen: "127.0.0.1:0"}, hclog.New(&hclog.LoggerOptions{Output: out}))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Drain(ctx)
		<-served
	}()

	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Post("http://"+ln.Addr().String()+"/load", "application/json", strings.NewReader(config))
	if err != nil {
		close(answered)
		t.Fatalf("no answer while the request's log line waited: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	close(answered)
	if err != nil || resp.StatusCode != http.StatusOK || !resp.Close || !bytes.Contains(body, []byte(`"generation"`)) {
		t.Errorf("answer %d %q (close %v, %v): want 200, the result and Connection: close", resp.StatusCode, body, resp.Close, err)
	}
}

// gatedWriter holds a log line containing hold until gate closes (for at
// most 10 seconds, so that a failing test ends).
type gatedWriter struct {
	gate <-chan struct{}
	hold string
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(w.hold)) {
		select {
		case <-w.gate:
		case <-time.After(10 * time.Second):
		}
	}
	return len(p), nil
}
