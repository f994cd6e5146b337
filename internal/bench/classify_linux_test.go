package bench

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestClassifyRealFailures makes each kind of failure happen to a real
// client on loopback and checks that it is classified as such: the
// classification must hold for the errors net/http really returns.
func TestClassifyRealFailures(t *testing.T) {
	// serve accepts connections and does bad to each one.
	serve := func(t *testing.T, bad func(c net.Conn)) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go bad(c)
			}
		}()
		return ln.Addr().String()
	}
	readRequest := func(c net.Conn) { http.ReadRequest(bufio.NewReader(c)) }
	closed, err := freeAddr("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mode   Mode
		addr   func(t *testing.T) string
		want   Kind
		bodies []string
	}{
		{"nobody listens", ModeConn, func(*testing.T) string { return closed }, Refused, nil},
		{"closed after the request", ModeKeepAlive, func(t *testing.T) string {
			return serve(t, func(c net.Conn) { readRequest(c); c.Close() })
		}, EOF, nil},
		{"reset after the request", ModeKeepAlive, func(t *testing.T) string {
			return serve(t, func(c net.Conn) {
				readRequest(c)
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			})
		}, Reset, nil},
		{"no answer", ModeConn, func(t *testing.T) string {
			return serve(t, func(c net.Conn) { readRequest(c); time.Sleep(2 * time.Second); c.Close() })
		}, Timeout, nil},
		{"500", ModeConn, func(t *testing.T) string {
			return serve(t, func(c net.Conn) {
				readRequest(c)
				c.Write([]byte("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
				c.Close()
			})
		}, BadStatus, nil},
		{"the wrong body", ModeConn, func(t *testing.T) string {
			return serve(t, func(c net.Conn) {
				readRequest(c)
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nwrong"))
				c.Close()
			})
		}, BadStatus, []string{"right"}},
		{"TLS to a plain server", ModeTLS, func(t *testing.T) string {
			return serve(t, func(c net.Conn) {
				c.Write([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"))
				c.Close()
			})
		}, TLSHandshake, nil},
		{"TLS closed in the handshake", ModeTLS, func(t *testing.T) string {
			return serve(t, func(c net.Conn) { c.Read(make([]byte, 1)); c.Close() })
		}, TLSHandshake, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scheme := "http://"
			if tc.mode == ModeTLS {
				scheme = "https://"
			}
			cfg := LoadConfig{Mode: tc.mode, URL: scheme + tc.addr(t) + "/", Timeout: 500 * time.Millisecond, Bodies: tc.bodies}
			cs, err := clients(cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := request(cs[0], cfg, time.Now())
			if s.Kind != tc.want {
				t.Fatalf("got %s (%s), want %s", s.Kind, s.Err, tc.want)
			}
			if tc.mode == ModeKeepAlive && s.Attempts != 1 && !strings.Contains(tc.name, "reset") {
				t.Fatalf("a POST on a fresh connection was attempted %d times", s.Attempts)
			}
		})
	}
}
