package bench

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// AlternateConfig measures several servers' closed-loop throughput in
// turn, from one client: a slice of time against each, cycle after
// cycle, in the order of cycleOrder. Servers measured
// within a second of each other share the machine's other load, which on
// a shared machine changes from one second to the next: comparing them
// cycle by cycle is steadier than comparing runs minutes apart.
type AlternateConfig struct {
	Servers []AlternateServer `json:"servers"`
	// Conns keep-alive connections to each server, each sending its
	// next GET as soon as the last is answered.
	Conns  int           `json:"conns"`
	Slice  time.Duration `json:"slice"`
	Cycles int           `json:"cycles"`
	// Warmup cycles come first and are not counted.
	Warmup int `json:"warmup"`
	// FirstCycle is the number the first cycle takes in cycleOrder, so
	// that runs of an odd number of cycles, one after another, put each
	// of the first two servers first as often as one run would.
	FirstCycle int `json:"first_cycle,omitempty"`
}

// order is the servers' order in cycle (counted from 0, warmup included).
func (cfg AlternateConfig) order(cycle int) []int {
	return cycleOrder(len(cfg.Servers), cycle+cfg.FirstCycle)
}

// AlternateServer is one server measured.
type AlternateServer struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
	// Pid is the process whose CPU time is measured.
	Pid int `json:"pid"`
	// Stats, if set, is a URL answering the process's count of heap
	// allocations (mallocs.go).
	Stats string `json:"stats,omitempty"`
}

// AlternateResult is each server's slices, one for each counted cycle.
type AlternateResult struct {
	Slices   [][]SliceResult `json:"slices"`
	Errors   int64           `json:"errors"`
	Examples []string        `json:"examples,omitempty"`
}

// SliceResult is one server's slice of a cycle.
type SliceResult struct {
	Requests int64         `json:"requests"`
	Elapsed  time.Duration `json:"elapsed"`
	// CPU is the server's CPU time over the slice, all its threads.
	CPU time.Duration `json:"cpu"`
	// Allocs is the server's heap allocations over the slice; -1 if
	// not known.
	Allocs float64 `json:"allocs"`
}

// altConn is a client connection of the alternating loop.
type altConn struct {
	c net.Conn
	r *bufio.Reader
}

// altClient holds the connections to one server.
type altClient struct {
	srv   AlternateServer
	req   []byte
	conns []altConn
	errs  *errorLog
}

// errorLog counts failed requests and keeps a few.
type errorLog struct {
	n        atomic.Int64
	mu       sync.Mutex
	examples []string
}

func (l *errorLog) add(err error) {
	l.n.Add(1)
	l.mu.Lock()
	if len(l.examples) < maxExamples {
		l.examples = append(l.examples, err.Error())
	}
	l.mu.Unlock()
}

// newAltClient is a client of srv with conns connections, made as they
// are first used.
func newAltClient(srv AlternateServer, conns int, errs *errorLog) *altClient {
	return &altClient{srv: srv, req: []byte("GET / HTTP/1.1\r\nHost: " + srv.Addr + "\r\nUser-Agent: flipd-bench\r\n\r\n"),
		conns: make([]altConn, conns), errs: errs}
}

// runAlternate runs cfg's cycles.
func runAlternate(cfg AlternateConfig) (AlternateResult, error) {
	if len(cfg.Servers) == 0 || cfg.Conns < 1 || cfg.Slice <= 0 || cfg.Cycles < 1 {
		return AlternateResult{}, errors.New("alternate: want servers, conns, a slice and cycles")
	}
	errs := &errorLog{}
	clients := make([]*altClient, len(cfg.Servers))
	for i, s := range cfg.Servers {
		clients[i] = newAltClient(s, cfg.Conns, errs)
		defer clients[i].close()
	}
	res := AlternateResult{Slices: make([][]SliceResult, len(cfg.Servers))}
	for cycle := range cfg.Warmup + cfg.Cycles {
		for _, i := range cfg.order(cycle) {
			s, err := clients[i].slice(cfg.Slice)
			if err != nil {
				return res, err
			}
			if cycle >= cfg.Warmup {
				res.Slices[i] = append(res.Slices[i], s)
			}
		}
	}
	res.Errors = errs.n.Load()
	res.Examples = errs.examples
	return res, nil
}

// cycleOrder is the order of the servers in a cycle: the first two, the
// servers compared, next to each other and each first in every other
// cycle, so that the load the machine's other tenants add, which
// changes from one moment to the next, falls on both alike (A B ... B A
// ...); then the others, likewise reversed in every other cycle.
func cycleOrder(n, cycle int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if cycle%2 == 1 {
		if n >= 2 {
			order[0], order[1] = 1, 0
		}
		slices.Reverse(order[min(2, n):])
	}
	return order
}

// statsSettle is how long a slice waits after reading the server's
// allocation count before it begins, so that what the reading leaves
// behind is not the slice's. flipd answers it from its GET /metrics,
// which gathers every metric (the bare servers' stats listener only
// reads the count), and 10 ms was a thin margin for that. The runs
// hint at it, no more: flipd's throughput ratio read 0.925 to 0.974
// (median 0.967) in seven runs with 10 ms, 0.925 to 0.983 (median
// 0.979) in five with 150 ms.
const statsSettle = 150 * time.Millisecond

// slice runs the closed loop against the server for d and measures it.
func (a *altClient) slice(d time.Duration) (SliceResult, error) {
	var m0, m1 uint64
	var err error
	if a.srv.Stats != "" {
		// Two readings in a row: the second's difference is what a
		// reading allocates, taken off the slice's.
		if m0, err = mallocs(a.srv.Stats); err != nil {
			return SliceResult{}, err
		}
		if m1, err = mallocs(a.srv.Stats); err != nil {
			return SliceResult{}, err
		}
		// What the server does after it answered, such as logging the
		// request, is not the slice's.
		time.Sleep(statsSettle)
	}
	s, err := a.measure(d)
	if err != nil {
		return SliceResult{}, err
	}
	if a.srv.Stats != "" {
		m2, err := mallocs(a.srv.Stats)
		if err != nil {
			return SliceResult{}, err
		}
		s.Allocs = max(0, float64(m2-m1)-float64(m1-m0))
	}
	return s, nil
}

// measure runs the closed loop against the server for d, and counts its
// answers and its CPU time meanwhile; not its allocations (Allocs -1).
func (a *altClient) measure(d time.Duration) (SliceResult, error) {
	cpu0, ok := threadsCPU(a.srv.Pid)
	if !ok {
		return SliceResult{}, fmt.Errorf("%s: reading the CPU time of process %d", a.srv.Name, a.srv.Pid)
	}
	start := time.Now()
	end := start.Add(d)
	var n atomic.Int64
	var wg sync.WaitGroup
	for i := range a.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.Add(a.loop(&a.conns[i], end))
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, ok := threadsCPU(a.srv.Pid)
	if !ok {
		return SliceResult{}, fmt.Errorf("%s: reading the CPU time of process %d", a.srv.Name, a.srv.Pid)
	}
	return SliceResult{Requests: n.Load(), Elapsed: elapsed, CPU: cpu1 - cpu0, Allocs: -1}, nil
}

// loop sends requests on c until end and counts the answers.
func (a *altClient) loop(c *altConn, end time.Time) int64 {
	var n int64
	for time.Now().Before(end) {
		if c.c == nil {
			conn, err := net.DialTimeout("tcp", a.srv.Addr, 5*time.Second)
			if err != nil {
				a.errs.add(err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			*c = altConn{conn, bufio.NewReaderSize(conn, 4096)}
		}
		c.c.SetDeadline(time.Now().Add(5 * time.Second))
		closing, err := a.roundTrip(c)
		if err != nil {
			a.errs.add(fmt.Errorf("%s: %w", a.srv.Name, err))
		}
		if err != nil || closing {
			c.c.Close()
			c.c = nil
		}
		if err == nil {
			n++
		}
	}
	return n
}

func (a *altClient) roundTrip(c *altConn) (closing bool, err error) {
	if _, err := c.c.Write(a.req); err != nil {
		return false, err
	}
	return readResponse(c.r)
}

func (a *altClient) close() {
	for _, c := range a.conns {
		if c.c != nil {
			c.c.Close()
		}
	}
}
