package flipdhttp

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

// TestCurl checks the server against a client that is not Go's.
func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not in PATH; skipping the test with a non-Go client")
	}
	ts := start(t, `{"module": "http", "h2c": true, "routes": [{"handle": `+static("hello from flipd")+`}]}`, nil)

	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, curl, append([]string{"-sS", "--max-time", "5"}, args...)...).CombinedOutput()
		return string(out), err
	}

	out, err := run("-w", " %{http_code} %{http_version}", ts.url("/"))
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	if want := "hello from flipd 200 1.1"; out != want {
		t.Errorf("curl = %q, want %q", out, want)
	}

	version, _ := run("--version")
	if !strings.Contains(version, "HTTP2") {
		t.Log("this curl has no HTTP/2; skipping its h2c request")
		return
	}
	out, err = run("--http2-prior-knowledge", "-w", " %{http_version}", ts.url("/"))
	if err != nil {
		t.Fatalf("curl --http2-prior-knowledge: %v\n%s", err, out)
	}
	if want := "hello from flipd 2"; out != want {
		t.Errorf("curl --http2-prior-knowledge = %q, want %q", out, want)
	}
}
