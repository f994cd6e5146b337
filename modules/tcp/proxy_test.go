package tcp_test

import (
	"io"
	"net"
	"strings"
	"testing"
)

func proxyConfig(upstream string) string {
	return `{"module": "tcp", "handle": {"module": "proxy", "upstream": "` + upstream + `", "dial_timeout": "2s"}}`
}

func TestProxyRoundTrip(t *testing.T) {
	up := upstream(t, func(c *net.TCPConn) { io.Copy(c, c) })
	s := start(t, proxyConfig(up))
	c := dial(t, s.addr)
	for _, msg := range []string{"one", "two", strings.Repeat("x", 1<<20)} {
		if got, err := roundTripConcurrent(c, msg); err != nil || got != msg {
			t.Fatalf("got %d bytes, %v; want %d", len(got), err, len(msg))
		}
	}
}

// roundTripConcurrent writes msg while reading the echo, so that a large
// message cannot fill both directions' buffers and stall.
func roundTripConcurrent(c net.Conn, msg string) (string, error) {
	werr := make(chan error, 1)
	go func() {
		_, err := io.WriteString(c, msg)
		werr <- err
	}()
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	if err2 := <-werr; err == nil {
		err = err2
	}
	return string(buf), err
}

// TestProxyClientHalfClose: the client sends a request and half-closes;
// the upstream answers only once it sees the end of the request.
func TestProxyClientHalfClose(t *testing.T) {
	up := upstream(t, func(c *net.TCPConn) {
		req, err := io.ReadAll(c)
		if err != nil {
			return
		}
		io.WriteString(c, "got: "+strings.ToUpper(string(req)))
		c.CloseWrite()
	})
	s := start(t, proxyConfig(up))
	c := dial(t, s.addr)
	io.WriteString(c, "request")
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(c)
	if err != nil || string(resp) != "got: REQUEST" {
		t.Fatalf("read %q, %v; want %q and EOF", resp, err, "got: REQUEST")
	}
}

// TestProxyUpstreamHalfClose: the upstream sends a greeting and
// half-closes; the client, having read to EOF, can still send.
func TestProxyUpstreamHalfClose(t *testing.T) {
	received := make(chan string, 1)
	up := upstream(t, func(c *net.TCPConn) {
		io.WriteString(c, "hello")
		c.CloseWrite()
		b, _ := io.ReadAll(c)
		received <- string(b)
	})
	s := start(t, proxyConfig(up))
	c := dial(t, s.addr)
	greeting, err := io.ReadAll(c)
	if err != nil || string(greeting) != "hello" {
		t.Fatalf("read %q, %v; want %q and EOF", greeting, err, "hello")
	}
	io.WriteString(c, "still here")
	c.CloseWrite()
	if got := <-received; got != "still here" {
		t.Fatalf("upstream received %q after its half-close", got)
	}
	expectClosed(t, c)
}

func TestProxyDeadUpstream(t *testing.T) {
	dead := deadAddr(t)
	s := start(t, proxyConfig(dead))
	c := dial(t, s.addr)
	expectClosed(t, c)
	eventually(t, "the dial failure to be logged", func() bool {
		return strings.Contains(s.logs.String(), "cannot reach upstream")
	})
	contains(t, "log", s.logs.String(), "upstream="+dead, "refused")
}

func TestProxyRoundRobin(t *testing.T) {
	named := func(name string) string {
		return upstream(t, func(c *net.TCPConn) { io.WriteString(c, name) })
	}
	a, b := named("a"), named("b")
	dead := deadAddr(t)
	s := start(t, `{"module": "tcp", "handle": {"module": "proxy", "upstreams": ["`+a+`", "`+dead+`", "`+b+`"]}}`)
	// The dead upstream is skipped: its turn goes to the next one.
	var got []string
	for range 6 {
		c := dial(t, s.addr)
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
	if s := strings.Join(got, ""); s != "abbabb" {
		t.Errorf("upstreams chosen: %q, want %q", s, "abbabb")
	}
}
