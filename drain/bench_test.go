package drain

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/flipd/flipd/internal/cputime"
)

// The benchmarks compare a server wrapped by the drain with a bare one for
// the same handler, while not draining: what the drain adds to each
// request is its hooks, its connection wrapper and its response wrapper.

// serveBench serves a handler that writes "hello" on a loopback listener,
// through the drain if withDrain, and returns its address. The server has
// the timeouts flipd's http module sets by default, so that net/http sets
// read deadlines, which the drain's connection wrapper sees, on each
// request.
func serveBench(b testing.TB, withDrain bool) string {
	b.Helper()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello")
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	if withDrain {
		go New(srv, Options{}).Serve(ln)
	} else {
		go srv.Serve(ln)
	}
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func benchSides(b *testing.B, run func(b *testing.B, withDrain bool)) {
	for _, withDrain := range []bool{false, true} {
		name := "bare"
		if withDrain {
			name = "drain"
		}
		b.Run(name, func(b *testing.B) { run(b, withDrain) })
	}
}

// BenchmarkRequest measures keep-alive requests from net/http's client.
func BenchmarkRequest(b *testing.B) {
	benchSides(b, func(b *testing.B, withDrain bool) {
		url := "http://" + serveBench(b, withDrain) + "/"
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		defer c.CloseIdleConnections()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := c.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	})
}

// BenchmarkServerRequest measures keep-alive requests from a client that
// writes a fixed request and reads the fixed-size answer without
// allocating, so that allocs/op is the server's own: net/http's, plus
// the drain's on the drain side. cpu-ns/op is the process's CPU time per
// request, the client's small share included: on a busy machine it is
// steadier than ns/op.
func BenchmarkServerRequest(b *testing.B) {
	benchSides(b, func(b *testing.B, withDrain bool) {
		addr := serveBench(b, withDrain)
		req := []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
		b.ReportAllocs()
		b.ResetTimer()
		defer cputime.PerOp(b)()
		b.RunParallel(func(pb *testing.PB) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			buf := make([]byte, answerSize(resp))
			for pb.Next() {
				if _, err := c.Write(req); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(r, buf); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// answerSize is the size on the wire of resp, a 200 with a body, headers
// and all: the size of every answer the benchmark's handler gives, as its
// Date has a fixed width.
func answerSize(resp *http.Response) int {
	var head bytes.Buffer
	resp.Header.Write(&head)
	return len("HTTP/1.1 200 OK\r\n") + head.Len() + len("\r\n") + int(resp.ContentLength)
}

// BenchmarkRequestHooks measures what the drain does for each request of
// a keep-alive connection outside its connection wrapper, without the
// network's noise: the ConnState hook as the request begins and ends,
// and the handler wrapper, against the handler alone.
func BenchmarkRequestHooks(b *testing.B) {
	benchSides(b, func(b *testing.B, withDrain bool) {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello")
		})}
		pc, peer := net.Pipe()
		defer pc.Close()
		defer peer.Close()
		c, r, w := trackedRequest(b, srv, pc, withDrain, Options{})
		h := srv.Handler
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if withDrain {
				srv.ConnState(c, http.StateActive)
			}
			h.ServeHTTP(w, r)
			if withDrain {
				srv.ConnState(c, http.StateIdle)
			}
		}
	})
}

// BenchmarkRequestConnCalls is BenchmarkRequestHooks with what net/http
// does on the connection for each keep-alive request, in the order it
// does it, on a connection that answers at once: the read of the next
// request, the background read while the handler runs, the response's
// write, and the read deadlines around them (those of a server whose
// timeouts the drain enforces: Options.OwnTimeouts). It measures the
// drain's whole cost for a request without the network, which a request
// on loopback hides in its noise.
func BenchmarkRequestConnCalls(b *testing.B) {
	benchSides(b, func(b *testing.B, withDrain bool) {
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "hello")
			}),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
		}
		c, r, w := trackedRequest(b, srv, instantConn{}, withDrain, Options{OwnTimeouts: true})
		h := srv.Handler
		request, background, response := make([]byte, idleReadSize), make([]byte, 1), make([]byte, 128)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			c.SetReadDeadline(time.Time{}) // the idle wait's: none, the drain times it
			c.Read(request)
			c.SetReadDeadline(time.Time{}) // the header's and the whole request's
			c.SetReadDeadline(time.Time{})
			if withDrain {
				srv.ConnState(c, http.StateActive)
			}
			c.Read(background)
			h.ServeHTTP(w, r)
			c.Write(response)
			c.SetReadDeadline(aLongTimeAgo) // ends the background read
			c.SetReadDeadline(time.Time{})
			if withDrain {
				srv.ConnState(c, http.StateIdle)
			}
		}
	})
}

// trackedRequest prepares what the request benchmarks serve: c, wrapped
// and tracked by a drain of srv with opts if withDrain, as the drain's
// Serve would, and a request on it with a writer that keeps nothing.
func trackedRequest(b *testing.B, srv *http.Server, c net.Conn, withDrain bool, opts Options) (net.Conn, *http.Request, *discardWriter) {
	b.Helper()
	ctx := context.Background()
	if withDrain {
		d := New(srv, opts)
		if opts.OwnTimeouts {
			// What Serve decides for a plaintext listener.
			d.mu.Lock()
			err := d.decideTimeouts(nil, true)
			d.mu.Unlock()
			if err != nil || !d.own {
				b.Fatalf("the drain does not enforce the timeouts: %v", err)
			}
		}
		c = newHandoffConn(c, d)
		ctx = srv.ConnContext(ctx, c)
		srv.ConnState(c, http.StateNew)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
	return c, r, &discardWriter{header: make(http.Header)}
}

// instantConn is a connection whose every Read and Write is done at once.
type instantConn struct{ net.Conn }

func (instantConn) Read(p []byte) (int, error)      { return len(p), nil }
func (instantConn) Write(p []byte) (int, error)     { return len(p), nil }
func (instantConn) SetReadDeadline(time.Time) error { return nil }

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ header http.Header }

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
