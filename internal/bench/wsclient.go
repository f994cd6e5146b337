package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// WSLoadConfig is the ws mode's client: WebSockets that each send a
// numbered message every Every and check the echoes, and TCP streams
// that each write a counter stream and verify its echo byte for byte.
// A connection that ends, other than by the client at the end, is lost:
// it is counted, with what became of its messages, and opened again.
type WSLoadConfig struct {
	URL     string `json:"url"`      // ws://host:port/path
	TCPAddr string `json:"tcp_addr"` // host:port of the TCP streams
	Conns   int    `json:"conns"`
	Streams int    `json:"streams"`
	// Every is the time between two messages of one WebSocket.
	Every time.Duration `json:"every"`
	// Chunk bytes of a stream are written every StreamEvery.
	Chunk       int           `json:"chunk"`
	StreamEvery time.Duration `json:"stream_every"`
	// Stall gives a connection up when no echo came for this long.
	Stall time.Duration `json:"stall"`
	// Settle is how long, at the end, the client waits for the echoes
	// of what it sent before it closes.
	Settle time.Duration `json:"settle"`
	// Duration bounds the run; the parent usually ends it sooner.
	Duration time.Duration `json:"duration"`
	// Bucket is the width of the series of losses.
	Bucket time.Duration `json:"bucket"`
}

// ConnStats is what became of one kind of connection.
type ConnStats struct {
	Wanted int `json:"wanted"`
	// Opened counts the connections established, the first ones and
	// those opened again after a loss.
	Opened int `json:"opened"`
	// Lost counts connections that ended other than by the client's
	// close at the end, by how: a close frame and its code, EOF, reset,
	// a stall, a wrong echo.
	Lost   int            `json:"lost"`
	LostBy map[string]int `json:"lost_by,omitempty"`
	// DialFailed counts attempts to open one that failed.
	DialFailed int      `json:"dial_failed"`
	Examples   []string `json:"examples,omitempty"`
}

// LossBucket is a slice of the run's time: the losses in it.
type LossBucket struct {
	T time.Duration `json:"t"` // since WSLoadResult.Start
	// WSLost and TCPLost count connections lost; MsgsLost the WebSocket
	// messages they took with them, or that went missing.
	WSLost   int `json:"ws_lost"`
	TCPLost  int `json:"tcp_lost"`
	MsgsLost int `json:"msgs_lost"`
}

// WSLoadResult is what the ws mode's client saw.
type WSLoadResult struct {
	Start    time.Time `json:"start"`
	WS       ConnStats `json:"ws"`
	TCP      ConnStats `json:"tcp"`
	Messages seqCounts `json:"messages"`
	// WrongEchoes counts echoes that were not a message sent on that
	// connection, byte for byte.
	WrongEchoes int `json:"wrong_echoes"`
	// Echo round trips of the messages.
	RTTP50 time.Duration `json:"rtt_p50"`
	RTTP99 time.Duration `json:"rtt_p99"`
	RTTMax time.Duration `json:"rtt_max"`
	// The streams' bytes: written, echoed as written, and written but
	// not echoed when a stream was lost.
	BytesWritten  int64 `json:"bytes_written"`
	BytesVerified int64 `json:"bytes_verified"`
	BytesLost     int64 `json:"bytes_lost"`
	// StreamFaults counts echoes that went wrong, by how (skipped,
	// repeated, corrupt bytes).
	StreamFaults map[streamVerdict]int `json:"stream_faults,omitempty"`
	Series       []LossBucket          `json:"series,omitempty"`
}

// wsRun is one run of the ws mode's client: what every connection adds up.
type wsRun struct {
	cfg  WSLoadConfig
	stop <-chan struct{}

	mu     sync.Mutex
	res    WSLoadResult
	rtt    []time.Duration
	series map[int]*LossBucket
}

// maxConnExamples bounds the error messages kept.
const maxConnExamples = 5

// RunWSLoad opens cfg's WebSockets and streams, says "ready" once each
// has been tried, and keeps them busy until stop is closed or
// cfg.Duration has passed; then it lets the echoes settle, closes, and
// sums up.
func RunWSLoad(cfg WSLoadConfig, stop <-chan struct{}, say func(string)) (WSLoadResult, error) {
	if cfg.URL == "" || cfg.Conns <= 0 && cfg.Streams <= 0 {
		return WSLoadResult{}, errors.New("ws load: no url, or nothing to open")
	}
	cfg.Every = cmpDur(cfg.Every, 100*time.Millisecond)
	cfg.StreamEvery = cmpDur(cfg.StreamEvery, 20*time.Millisecond)
	cfg.Stall = cmpDur(cfg.Stall, 5*time.Second)
	cfg.Settle = cmpDur(cfg.Settle, 3*time.Second)
	cfg.Duration = cmpDur(cfg.Duration, 10*time.Minute)
	cfg.Bucket = cmpDur(cfg.Bucket, time.Second)
	cfg.Chunk = max(cfg.Chunk, 8)
	done := make(chan struct{})
	var once sync.Once
	end := func() { once.Do(func() { close(done) }) }
	timer := time.AfterFunc(cfg.Duration, end)
	defer timer.Stop()
	go func() {
		select {
		case <-stop:
			end()
		case <-done:
		}
	}()
	r := &wsRun{cfg: cfg, stop: done, series: map[int]*LossBucket{}}
	r.res = WSLoadResult{Start: time.Now(), StreamFaults: map[streamVerdict]int{},
		WS:  ConnStats{Wanted: cfg.Conns, LostBy: map[string]int{}},
		TCP: ConnStats{Wanted: cfg.Streams, LostBy: map[string]int{}}}

	var tried, wg sync.WaitGroup
	for slot := range cfg.Conns + cfg.Streams {
		tried.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if slot < cfg.Conns {
				r.keepOpen(&r.res.WS, tried.Done, func(id uint64, opened func()) error { return r.runWS(id, opened) }, slot)
			} else {
				r.keepOpen(&r.res.TCP, tried.Done, r.runStream, slot)
			}
		}()
	}
	tried.Wait()
	say(fmt.Sprintf("ready %d websockets, %d streams", r.opened(&r.res.WS), r.opened(&r.res.TCP)))
	wg.Wait()
	return r.result(), nil
}

func cmpDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// errDial marks a connection that could not be opened.
var errDial = errors.New("dial")

// keepOpen runs one connection after the other in slot until the run
// stops: each run returns nil if the client ended it, errDial (wrapped)
// if it could not open, or why it was lost. tried is called once the
// first has been tried.
func (r *wsRun) keepOpen(stats *ConnStats, tried func(), run func(id uint64, opened func()) error, slot int) {
	first := true
	for session := uint64(0); session < 1<<20; session++ {
		id := uint64(slot)<<32 | session
		opened := false
		err := run(id, func() {
			opened = true
			r.count(func() { stats.Opened++ })
			if first {
				first = false
				tried()
			}
		})
		if first {
			first = false
			tried()
		}
		switch {
		case err == nil:
			return
		case !opened:
			r.count(func() {
				stats.DialFailed++
				r.example(stats, err)
			})
		}
		select {
		case <-r.stop:
			return
		case <-time.After(50*time.Millisecond + rand.N(100*time.Millisecond)):
		}
	}
}

// count runs f under the run's lock.
func (r *wsRun) count(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
}

func (r *wsRun) opened(stats *ConnStats) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return stats.Opened
}

// example keeps err as an example; call it under the lock.
func (r *wsRun) example(stats *ConnStats, err error) {
	if len(stats.Examples) < maxConnExamples {
		stats.Examples = append(stats.Examples, err.Error())
	}
}

// bucket is the series' bucket of now; call it under the lock.
func (r *wsRun) bucket() *LossBucket {
	i := int(time.Since(r.res.Start) / r.cfg.Bucket)
	b := r.series[i]
	if b == nil {
		b = &LossBucket{T: time.Duration(i) * r.cfg.Bucket}
		r.series[i] = b
	}
	return b
}

// lost records a connection lost, and how.
func (r *wsRun) lost(stats *ConnStats, how string, err error, msgs int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stats.Lost++
	stats.LostBy[how]++
	r.example(stats, err)
	b := r.bucket()
	if stats == &r.res.WS {
		b.WSLost++
	} else {
		b.TCPLost++
	}
	b.MsgsLost += msgs
}

// stopping says whether the run is ending.
func (r *wsRun) stopping() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (r *wsRun) result() WSLoadResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	slices.Sort(r.rtt)
	res.RTTP50, res.RTTP99 = Percentile(r.rtt, 0.5), Percentile(r.rtt, 0.99)
	if len(r.rtt) > 0 {
		res.RTTMax = r.rtt[len(r.rtt)-1]
	}
	for _, b := range r.series {
		res.Series = append(res.Series, *b)
	}
	slices.SortFunc(res.Series, func(a, b LossBucket) int { return int(a.T - b.T) })
	return res
}

// lossKind names how a connection was lost, from the error that ended it.
func lossKind(err error) string {
	var ce *websocket.CloseError
	var fault *streamFaultError
	switch {
	case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
		return "eof, no close frame"
	case errors.As(err, &ce):
		return fmt.Sprintf("close %d", ce.Code)
	case errors.Is(err, errStalled):
		return "stalled"
	case errors.Is(err, errWrongEcho):
		return "wrong echo"
	case errors.As(err, &fault):
		return "wrong bytes"
	case errors.Is(err, errSettle):
		return "echoes missing at the end"
	}
	return string(Classify(err, false))
}

var (
	errStalled   = errors.New("stalled: no echo")
	errWrongEcho = errors.New("wrong echo")
	errSettle    = errors.New("echoes still missing when the run ended")
)

// stalled turns a read deadline that passed into errStalled.
func stalled(err error, stall time.Duration) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w for %v: %v", errStalled, stall, err)
	}
	return err
}
