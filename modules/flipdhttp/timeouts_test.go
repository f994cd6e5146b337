package flipdhttp

import (
	"bufio"
	"net"
	"sync"
	"testing"
	"time"
)

// The module's read_header_timeout and idle_timeout hold on a plaintext
// listener, where the drain enforces them (drain.Options.OwnTimeouts): a
// connection is cut no sooner than its timeout, and at most a second
// after (plus slack for a busy machine).
func TestTheTimeoutsCutASlowHeaderAndAnIdleConnectionOnTime(t *testing.T) {
	const timeout = 2 * time.Second
	ts := start(t, `{"module": "http", "read_header_timeout": "2s", "idle_timeout": "2s", "routes": [{"handle": `+static("hi")+`}]}`, nil)
	cases := []struct {
		name string
		send string // before the wait; a whole request is answered first
	}{
		{"an idle keep-alive connection", "GET / HTTP/1.1\r\nHost: t\r\n\r\n"},
		{"a header begun and never finished", "GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHo"},
		{"a new connection that sends nothing", ""},
	}
	var wg sync.WaitGroup
	for _, tc := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := time.Now() // a new connection's header timeout counts from its accept
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			r := bufio.NewReader(c)
			if _, err := c.Write([]byte(tc.send)); err != nil {
				t.Error(err)
				return
			}
			if tc.send != "" {
				if line, err := r.ReadString('\n'); err != nil || line != "HTTP/1.1 200 OK\r\n" {
					t.Errorf("%s: the first response: %q, %v", tc.name, line, err)
					return
				}
				from = time.Now()
			}
			for {
				if _, err := r.ReadByte(); err != nil {
					break // the rest of the response, then the close
				}
			}
			waited := time.Since(from)
			if waited < timeout || waited > timeout+3*time.Second {
				t.Errorf("%s: closed after %s, want between %s and a second or so after", tc.name, waited, timeout)
			}
		}()
	}
	wg.Wait()
}
