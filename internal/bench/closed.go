package bench

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ClosedConfig is a closed-loop throughput measurement: Conns keep-alive
// connections, each sending its next GET as soon as the last is answered.
type ClosedConfig struct {
	Addr  string `json:"addr"`
	Conns int    `json:"conns"`
	// Warmup is run first and not counted.
	Warmup   time.Duration `json:"warmup"`
	Duration time.Duration `json:"duration"`
}

// ClosedResult is what a closed-loop run managed.
type ClosedResult struct {
	Requests  int64    `json:"requests"`
	Errors    int64    `json:"errors"`
	PerSecond float64  `json:"per_second"`
	Examples  []string `json:"examples,omitempty"`
}

// runClosed measures the most requests per second the server answers. It
// speaks HTTP/1.1 itself, a fixed request and a parse of the answer's
// head, because net/http's client would spend more of the two cores than
// the server it measures.
func runClosed(cfg ClosedConfig) (ClosedResult, error) {
	if cfg.Conns < 1 || cfg.Duration <= 0 {
		return ClosedResult{}, errors.New("closed loop: want conns and a duration")
	}
	req := []byte("GET / HTTP/1.1\r\nHost: " + cfg.Addr + "\r\nUser-Agent: flipd-bench\r\n\r\n")
	var counted, errs atomic.Int64
	var mu sync.Mutex
	var examples []string
	start := time.Now()
	countFrom, end := start.Add(cfg.Warmup), start.Add(cfg.Warmup+cfg.Duration)
	var wg sync.WaitGroup
	for range cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var r *bufio.Reader
			fail := func(err error) {
				errs.Add(1)
				mu.Lock()
				if len(examples) < maxExamples {
					examples = append(examples, err.Error())
				}
				mu.Unlock()
				if c != nil {
					c.Close()
					c = nil
				}
			}
			for time.Now().Before(end) { // one request per pass, bounded by time
				if c == nil {
					var err error
					if c, err = net.DialTimeout("tcp", cfg.Addr, 5*time.Second); err != nil {
						fail(err)
						time.Sleep(10 * time.Millisecond)
						continue
					}
					r = bufio.NewReaderSize(c, 4096)
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(req); err != nil {
					fail(err)
					continue
				}
				closing, err := readResponse(r)
				if err != nil {
					fail(err)
					continue
				}
				if time.Now().After(countFrom) {
					counted.Add(1)
				}
				if closing {
					c.Close()
					c = nil
				}
			}
			if c != nil {
				c.Close()
			}
		}()
	}
	wg.Wait()
	return ClosedResult{Requests: counted.Load(), Errors: errs.Load(),
		PerSecond: float64(counted.Load()) / cfg.Duration.Seconds(), Examples: examples}, nil
}

// readResponse reads one HTTP/1.1 response with a Content-Length and a
// 200 status, and reports whether the server will close the connection.
func readResponse(r *bufio.Reader) (closing bool, err error) {
	tp := textproto.NewReader(r)
	line, err := tp.ReadLine()
	if err != nil {
		return false, err
	}
	if !strings.HasPrefix(line, "HTTP/1.1 200 ") {
		return false, fmt.Errorf("status line %q", line)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return false, err
	}
	n, err := strconv.Atoi(h.Get("Content-Length"))
	if err != nil {
		return false, fmt.Errorf("content-length %q", h.Get("Content-Length"))
	}
	if _, err := r.Discard(n); err != nil {
		return false, err
	}
	return strings.EqualFold(h.Get("Connection"), "close"), nil
}
