package drain_test

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestCurlHTTP2ThroughADrain has curl fetch, over one HTTP/2 connection,
// a slow URL that the old generation is still answering when its drain
// begins, then more URLs: the slow one completes, the others go to the new
// generation on a new connection, and curl reports no error.
func TestCurlHTTP2ThroughADrain(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed: ", err)
	}
	for _, tt := range transports {
		t.Run(tt.name, func(t *testing.T) {
			cert, _ := selfSigned(t)
			ln := listen(t)
			slow, entered, release := blocking(t)
			gen := func(name string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/slow" {
						slow.ServeHTTP(w, r)
					}
					w.Write([]byte(name + " " + r.Proto + "\n"))
				}
			}
			old := newH2Server(t, ln, tt.tls, cert, gen("old"))

			scheme, flag := "https", "--http2"
			if !tt.tls {
				scheme, flag = "http", "--http2-prior-knowledge"
			}
			base := scheme + "://" + ln.Addr().String()
			args := []string{flag, "-k", "-sS", "--fail", base + "/slow"}
			// curl 7.88 cannot reuse an h2c connection of prior knowledge
			// for a second URL, drain or not ("Error in the HTTP2 framing
			// layer"): over h2c the later URLs get a curl of their own.
			next := 5
			if !tt.tls {
				next = 0
			}
			for range next {
				args = append(args, base+"/next")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			type result struct {
				out []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				out, err := exec.CommandContext(ctx, curl, args...).CombinedOutput()
				done <- result{out, err}
			}()
			<-entered

			newH2Server(t, dup(t, ln), tt.tls, cert, gen("new"))
			drained := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				drained <- old.Shutdown(ctx)
			}()
			waitFor(t, "the drain to start", old.Draining)
			// Give the notice and its PING time to reach curl while its
			// first request is still open: the case under test.
			time.Sleep(100 * time.Millisecond)
			release()

			r := <-done
			if r.err != nil {
				t.Fatalf("curl %v: %v\n%s", args, r.err, r.out)
			}
			if !tt.tls {
				out, err := exec.CommandContext(ctx, curl, flag, "-sS", "--fail", base+"/next").CombinedOutput()
				if err != nil {
					t.Fatalf("curl after the drain began: %v\n%s", err, out)
				}
				r.out = append(r.out, out...)
			}
			lines := strings.Split(strings.TrimSpace(string(r.out)), "\n")
			if len(lines) < 2 || lines[0] != "old HTTP/2.0" {
				t.Fatalf("curl printed %q, want the old generation's answer first, then more", lines)
			}
			for _, l := range lines[1:] {
				if l != "new HTTP/2.0" {
					t.Errorf("after the drain began curl got %q, want %q", l, "new HTTP/2.0")
				}
			}
			if err := <-drained; err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}
