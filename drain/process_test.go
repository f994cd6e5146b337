package drain_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flipd/flipd/drain"
)

// helperEnv, when set to an IdleGrace, makes the test binary a drain
// server in a process of its own (see runDrainHelper), which a test can
// stop and continue as a busy machine stalls a process.
const helperEnv = "DRAIN_TEST_HELPER_GRACE"

func TestMain(m *testing.M) {
	if grace := os.Getenv(helperEnv); grace != "" {
		if err := runDrainHelper(grace, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "drain helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runDrainHelper serves echo through a drain.Server on a loopback port,
// which it writes as its first line. A line on in starts the drain; it
// writes "draining" once the drain has begun, then "drained" and what
// Shutdown returned.
func runDrainHelper(grace string, in io.Reader, out io.Writer) error {
	d, err := time.ParseDuration(grace)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: echo, ErrorLog: log.New(io.Discard, "", 0)}
	ds := drain.New(srv, drain.Options{IdleGrace: d, CloseWindow: -1})
	go ds.Serve(ln)
	fmt.Fprintln(out, ln.Addr())

	if _, err := bufio.NewReader(in).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for the word to drain: %w", err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- ds.Shutdown(ctx)
	}()
	for !ds.Draining() {
		time.Sleep(time.Millisecond)
	}
	fmt.Fprintln(out, "draining")
	fmt.Fprintln(out, "drained", <-done)
	return nil
}

// readLine reads one line of a helper's output.
func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the helper's output: %v", err)
	}
	return strings.TrimSpace(line)
}
