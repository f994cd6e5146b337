package drain

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
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
		var d *Server
		if withDrain {
			d = benchDrain(b, srv, Options{})
		}
		c, r, w := trackedRequest(srv, pc, d)
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
		var d *Server
		if withDrain {
			d = benchDrain(b, srv, Options{OwnTimeouts: true})
		}
		c, r, w := trackedRequest(srv, instantConn{}, d)
		bufs := newConnCallBufs()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			requestConnCalls(srv, c, r, w, bufs, withDrain)
		}
	})
}

// connCallBufs are the buffers of requestConnCalls' reads and write.
type connCallBufs struct{ request, background, response []byte }

func newConnCallBufs() *connCallBufs {
	return &connCallBufs{make([]byte, idleReadSize), make([]byte, 1), make([]byte, 128)}
}

// requestConnCalls makes the calls net/http makes on a keep-alive
// request's connection, in its order, and serves r with srv's handler;
// with the drain's state hooks if withDrain.
func requestConnCalls(srv *http.Server, c net.Conn, r *http.Request, w http.ResponseWriter, bufs *connCallBufs, withDrain bool) {
	c.SetReadDeadline(time.Time{}) // the idle wait's: none, the drain times it
	c.Read(bufs.request)
	c.SetReadDeadline(time.Time{}) // the header's and the whole request's
	c.SetReadDeadline(time.Time{})
	if withDrain {
		srv.ConnState(c, http.StateActive)
	}
	c.Read(bufs.background)
	srv.Handler.ServeHTTP(w, r)
	c.Write(bufs.response)
	c.SetReadDeadline(aLongTimeAgo) // ends the background read
	c.SetReadDeadline(time.Time{})
	if withDrain {
		srv.ConnState(c, http.StateIdle)
	}
}

// evictBuf is larger than the machine's per-core caches.
var evictBuf = make([]byte, 4<<20)

// evictCaches writes a byte of every cache line of evictBuf, which
// pushes what a request used out of the core's caches, as another
// process sharing the core does between two requests of a server.
func evictCaches() {
	for i := 0; i < len(evictBuf); i += 64 {
		evictBuf[i]++
	}
}

// BenchmarkRequestConnCallsCold is BenchmarkRequestConnCalls with the
// caches emptied before each request, on 16 connections of one server
// taken in turn, bare and through the drain alternately in the same
// loop, each request timed alone; it reports the medians, and the
// median of the drain's extra time a request (extra-ns/req): what the
// drain costs a server whose core another process shares.
func BenchmarkRequestConnCallsCold(b *testing.B) {
	const conns = 16
	type side struct {
		srv   *http.Server
		conns []net.Conn
		reqs  []*http.Request
		drain bool
	}
	newSide := func(withDrain bool) *side {
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "hello")
			}),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
		}
		s := &side{srv: srv, drain: withDrain}
		var d *Server
		if withDrain {
			d = benchDrain(b, srv, Options{OwnTimeouts: true})
		}
		for range conns {
			c, r, _ := trackedRequest(srv, instantConn{}, d)
			// What net/http adds to the connection's context, and each
			// request's own.
			ctx := context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{})
			ctx, cancel := context.WithCancel(ctx)
			b.Cleanup(cancel)
			ctx, cancel = context.WithCancel(ctx)
			b.Cleanup(cancel)
			s.conns, s.reqs = append(s.conns, c), append(s.reqs, r.WithContext(ctx))
		}
		return s
	}
	sides := [2]*side{newSide(false), newSide(true)}
	w := &discardWriter{header: make(http.Header)}
	bufs := newConnCallBufs()
	var times [2][]float64
	var extra []float64
	i := 0
	for b.Loop() {
		var took [2]float64
		for k, s := range sides {
			b.StopTimer()
			evictCaches()
			b.StartTimer()
			t0 := time.Now()
			requestConnCalls(s.srv, s.conns[i%conns], s.reqs[i%conns], w, bufs, s.drain)
			took[k] = float64(time.Since(t0))
			times[k] = append(times[k], took[k])
		}
		extra = append(extra, took[1]-took[0])
		i++
	}
	b.ReportMetric(median(times[0]), "bare-ns/req")
	b.ReportMetric(median(times[1]), "drain-ns/req")
	b.ReportMetric(median(extra), "extra-ns/req")
}

// median is the middle of xs (the upper one of the two if even), which it sorts.
func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// benchDrain is a drain of srv with opts, with the timeouts decided as
// the drain's Serve decides them for a plaintext listener.
func benchDrain(b *testing.B, srv *http.Server, opts Options) *Server {
	b.Helper()
	d := New(srv, opts)
	if opts.OwnTimeouts {
		d.mu.Lock()
		err := d.decideTimeouts(nil, true)
		d.mu.Unlock()
		if err != nil || !d.own {
			b.Fatalf("the drain does not enforce the timeouts: %v", err)
		}
	}
	return d
}

// trackedRequest prepares what the request benchmarks serve: c, wrapped
// and tracked by d as the drain's Serve would (as it is if d is nil), and
// a request on it with a writer that keeps nothing.
func trackedRequest(srv *http.Server, c net.Conn, d *Server) (net.Conn, *http.Request, *discardWriter) {
	ctx := context.Background()
	if d != nil {
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
