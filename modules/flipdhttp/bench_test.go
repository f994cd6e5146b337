package flipdhttp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
	"github.com/flipd/flipd/flipdtest"
	"github.com/flipd/flipd/internal/cputime"
)

// The benchmarks compare the http module serving a static_response with
// the same handler in a bare net/http server, over real loopback
// connections, while not draining: what the module adds to each request
// is its routes, its timeouts and the drain around its server.

// benchSide is one server the benchmarks compare.
type benchSide struct {
	name  string
	serve func(b testing.TB, ln net.Listener)
}

// benchSides are bare net/http with the module's handler, the same with
// the module's default timeouts, and the module itself.
var benchSides = []benchSide{
	{"bare", func(b testing.TB, ln net.Listener) {
		serveHTTP(b, ln, &http.Server{Handler: benchHandler(b)})
	}},
	{"timeouts", func(b testing.TB, ln net.Listener) {
		serveHTTP(b, ln, &http.Server{Handler: benchHandler(b), ReadHeaderTimeout: DefaultReadHeaderTimeout,
			IdleTimeout: DefaultIdleTimeout, MaxHeaderBytes: DefaultMaxHeaderBytes})
	}},
	{"module", func(b testing.TB, ln net.Listener) {
		mod, err := flipdtest.Load(b, hclog.NewNullLogger(), "listeners",
			[]byte(`{"module": "http", "routes": [{"handle": `+static("hello")+`}]}`))
		if err != nil {
			b.Fatal(err)
		}
		srv := mod.(*Server)
		go srv.Serve(ln)
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			srv.Drain(ctx)
		})
	}},
}

// benchHandler is the module's static_response handler, provisioned.
func benchHandler(b testing.TB) http.Handler {
	sr := &StaticResponse{Body: "hello"}
	if err := sr.Provision(flipd.Context{}); err != nil {
		b.Fatal(err)
	}
	return sr
}

func serveHTTP(b testing.TB, ln net.Listener, srv *http.Server) {
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
}

// serveSide serves side on a loopback port and returns its address.
func serveSide(b testing.TB, side benchSide) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	side.serve(b, ln)
	return ln.Addr().String()
}

// BenchmarkStaticResponse measures keep-alive requests from a client
// that writes a fixed request and reads the fixed-size answer without
// allocating, so that allocs/op is the server's own. cpu-ns/op is the
// process's CPU time per request, the client's small share included: on
// a busy machine it is steadier than ns/op. It runs with a connection
// for each CPU, where the server often waits for the next request, and
// with eight, where the next request is most often there already, as in
// flipd-bench's throughput target.
//
//	go test -run '^$' -bench StaticResponse -benchmem ./modules/flipdhttp/
func BenchmarkStaticResponse(b *testing.B) {
	for _, side := range benchSides {
		for _, perCPU := range []int{1, 8} {
			name := fmt.Sprintf("%s/conns=%d", side.name, perCPU*runtime.GOMAXPROCS(0))
			b.Run(name, func(b *testing.B) { benchStatic(b, side, perCPU) })
		}
	}
}

func benchStatic(b *testing.B, side benchSide, perCPU int) {
	addr := serveSide(b, side)
	req := []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	defer cputime.PerOp(b)()
	b.SetParallelism(perCPU)
	b.RunParallel(func(pb *testing.PB) {
		c, r, size, err := dialBench(addr, req)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		buf := make([]byte, size)
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
}

// dialBench connects to addr, sends req once and returns the connection,
// its reader and the size on the wire of the answer, which is the size
// of every answer to req: its Date has a fixed width.
func dialBench(addr string, req []byte) (net.Conn, *bufio.Reader, int, error) {
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		return nil, nil, 0, err
	}
	r := bufio.NewReader(c)
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, nil, 0, err
	}
	c.SetReadDeadline(time.Now().Add(testTimeout))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		c.Close()
		return nil, nil, 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.SetReadDeadline(time.Time{})
	var head bytes.Buffer
	resp.Header.Write(&head)
	return c, r, len("HTTP/1.1 200 OK\r\n") + head.Len() + len("\r\n") + int(resp.ContentLength), nil
}
